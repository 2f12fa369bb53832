"""The station's local authorization list (OCPP 1.6 Local Auth List Management).

The CSMS fills it with SendLocalList (Full: the list is replaced; Differential: entries with
idTagInfo are added or changed, entries without it removed) and asks its version with
GetLocalListVersion. The station uses it to start a session without asking the CSMS:
online only with LocalPreAuthorize, offline with LocalAuthorizeOffline, and never while
LocalAuthListEnabled is false.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .configuration import (
    LOCAL_AUTH_LIST_ENABLED,
    LOCAL_AUTH_LIST_MAX_LENGTH,
    LOCAL_AUTHORIZE_OFFLINE,
    LOCAL_PRE_AUTHORIZE,
    SEND_LOCAL_LIST_MAX_LENGTH,
    SUPPORTED_FEATURE_PROFILES,
    Configuration,
)
from .protocol import CallError, Payload, parse_timestamp
from .replies import Handlers, Reply

PROFILE = "LocalAuthListManagement"


class LocalAuthList:
    """The list's version and its entries (idTag -> idTagInfo)."""

    __slots__ = ("entries", "version")

    def __init__(self) -> None:
        self.version = 0
        self.entries: dict[str, Payload] = {}

    @property
    def reported_version(self) -> int:
        # OCPP 1.6: version 0 means the list is empty.
        return self.version if self.entries else 0

    def update(self, update_type: str, version: int, entries: list[Payload], max_length: int) -> str:
        """Apply a SendLocalList; its status: Accepted, Failed or VersionMismatch. A failed
        update leaves the list as it was."""
        tags = [entry["idTag"] for entry in entries]
        if len(set(tags)) != len(tags):
            return "Failed"
        if update_type == "Full":
            if any("idTagInfo" not in entry for entry in entries):
                return "Failed"  # a full list says what each tag may do
            updated = {entry["idTag"]: entry["idTagInfo"] for entry in entries}
        elif update_type == "Differential":
            if version <= self.version:
                return "VersionMismatch"
            updated = dict(self.entries)
            for entry in entries:
                if "idTagInfo" in entry:
                    updated[entry["idTag"]] = entry["idTagInfo"]
                else:
                    updated.pop(entry["idTag"], None)
        else:
            raise CallError("PropertyConstraintViolation", f"unknown updateType {update_type!r}")
        if len(updated) > max_length:
            return "Failed"
        self.entries, self.version = updated, version
        return "Accepted"


def supported(configuration: Configuration) -> bool:
    return PROFILE in configuration.items(SUPPORTED_FEATURE_PROFILES)


def authorized_locally(local_list: LocalAuthList, configuration: Configuration, online: bool,
                       id_tag: str) -> Payload | None:
    """The tag's idTagInfo when the local list lets the station start without an Authorize:
    the list is in use for the station's state (online or offline), the tag is on it,
    Accepted and not past its expiry. None: ask the CSMS."""
    if not supported(configuration) or not configuration.flag(LOCAL_AUTH_LIST_ENABLED):
        return None
    if not configuration.flag(LOCAL_PRE_AUTHORIZE if online else LOCAL_AUTHORIZE_OFFLINE):
        return None
    info = local_list.entries.get(id_tag)
    if info is None or info.get("status") != "Accepted":
        return None
    if "expiryDate" in info and parse_timestamp(info["expiryDate"]) <= datetime.now(UTC):
        return None
    return info


def csms_calls(local_list: LocalAuthList, configuration: Configuration) -> Handlers:
    def on_send_local_list(payload: Payload) -> Reply:
        if not supported(configuration):
            return Reply({"status": "NotSupported"})
        entries = payload.get("localAuthorizationList", [])
        if len(entries) > int(configuration.get(SEND_LOCAL_LIST_MAX_LENGTH)):
            return Reply({"status": "Failed"})
        max_length = int(configuration.get(LOCAL_AUTH_LIST_MAX_LENGTH))
        return Reply({"status": local_list.update(payload["updateType"], payload["listVersion"], entries,
                                                  max_length)})

    def on_get_local_list_version(payload: Payload) -> Reply:
        # -1: the station has no local list at all.
        return Reply({"listVersion": local_list.reported_version if supported(configuration) else -1})

    return {"SendLocalList": on_send_local_list, "GetLocalListVersion": on_get_local_list_version}
