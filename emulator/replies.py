"""What a handler of a CSMS-initiated CALL returns (`csms_calls.HANDLERS`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .protocol import Payload

if TYPE_CHECKING:
    from .station import Station


class Reply(NamedTuple):
    """The confirmation's payload, and what to do once it has been sent (`then`)."""

    payload: Payload
    then: Callable[[], Awaitable[Any]] | None = None


Handler = Callable[["Station", Payload], Reply]
