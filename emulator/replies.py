"""What a station answers to a CSMS-initiated CALL: each feature module's `csms_calls(...)`
gives the handlers of its actions, bound to the parts of the station they need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from .protocol import Payload


class Reply(NamedTuple):
    """The confirmation's payload, and what to do once it has been sent (`then`)."""

    payload: Payload
    then: Callable[[], Awaitable[Any]] | None = None


# Decides synchronously (raising CallError for a CALLERROR); what takes CALLs of its own
# happens in `Reply.then`, which the station runs only after the confirmation is sent.
Handler = Callable[[Payload], Reply]
Handlers = dict[str, Handler]


class Caller(Protocol):
    """What sends the station's own CALLs (its link)."""

    async def call(self, action: str, payload: Payload) -> Payload: ...

    async def send_best_effort(self, action: str, payload: Payload) -> Payload | None: ...
