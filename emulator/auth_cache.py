"""The station's authorization cache: the idTagInfo the CSMS last gave for each idTag (in
Authorize and StartTransaction replies). ClearCache empties it."""

from __future__ import annotations

from .protocol import Payload
from .replies import Handlers, Reply


class AuthorizationCache:
    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, Payload] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, id_tag: str) -> bool:
        return id_tag in self._entries

    def remember(self, id_tag: str, id_tag_info: Payload) -> None:
        self._entries[id_tag] = id_tag_info

    def get(self, id_tag: str) -> Payload | None:
        return self._entries.get(id_tag)

    def clear(self) -> None:
        self._entries.clear()


def csms_calls(cache: AuthorizationCache) -> Handlers:
    def on_clear_cache(payload: Payload) -> Reply:
        cache.clear()
        return Reply({"status": "Accepted"})

    return {"ClearCache": on_clear_cache}
