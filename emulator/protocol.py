"""OCPP-J 1.6 framing: CALL / CALLRESULT / CALLERROR frames, unique ids and timestamps.

Frames are plain JSON arrays encoded with orjson straight to bytes, so a station pays for
nothing per message beyond the list it sends. Everything here is pure and synchronous.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4

# OCPP-J limits the unique id to 36 characters.
MAX_UNIQUE_ID_LENGTH: Final = 36

Payload = dict[str, Any]


class CallError(Exception):
    """A CALLERROR: raised when the CSMS answers our CALL with one, and raised by a handler
    of a CSMS-initiated CALL to answer it with one."""

    def __init__(self, code: str, description: str = "", details: Payload | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details: Payload = details if details is not None else {}


class FrameError(ValueError):
    """A message that is not a valid OCPP-J frame. `unique_id` and `message_type` are set when
    they could still be read, so that a malformed CALL can be answered with a CALLERROR."""

    def __init__(self, reason: str, *, unique_id: str | None = None, message_type: int | None = None) -> None:
        super().__init__(reason)
        self.unique_id = unique_id
        self.message_type = message_type


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class CallErrorFrame:
    unique_id: str
    code: str
    description: str
    details: Payload

    def to_exception(self) -> CallError:
        return CallError(self.code, self.description, self.details)


Frame = Call | CallResult | CallErrorFrame


def build_call(unique_id: str, action: str, payload: Payload) -> bytes:
    return orjson.dumps([CALL, unique_id, action, payload])


def build_call_result(unique_id: str, payload: Payload) -> bytes:
    return orjson.dumps([CALLRESULT, unique_id, payload])


def build_call_error(unique_id: str, code: str, description: str = "", details: Payload | None = None) -> bytes:
    return orjson.dumps([CALLERROR, unique_id, code, description, details if details is not None else {}])


def parse_frame(raw: str | bytes) -> Frame:
    """Decode one WebSocket text message into a typed frame, or raise FrameError."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(message, list) or len(message) < 3:
        raise FrameError("a frame is a JSON array of at least 3 elements")
    message_type, unique_id = message[0], message[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError("unique id must be a string of 1..36 characters", message_type=message_type)

    if message_type == CALL:
        if len(message) != 4 or not isinstance(message[2], str) or not isinstance(message[3], dict):
            raise FrameError("CALL must be [2, uniqueId, action, {payload}]", unique_id=unique_id, message_type=CALL)
        return Call(unique_id, message[2], message[3])
    if message_type == CALLRESULT:
        if not isinstance(message[2], dict):
            raise FrameError("CALLRESULT payload must be an object", unique_id=unique_id, message_type=CALLRESULT)
        return CallResult(unique_id, message[2])
    if message_type == CALLERROR:
        # Description and details are often left out by real servers; accept that rather
        # than lose the error code.
        code = message[2]
        description = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
        details = message[4] if len(message) > 4 and isinstance(message[4], dict) else {}
        if not isinstance(code, str):
            raise FrameError("CALLERROR code must be a string", unique_id=unique_id, message_type=CALLERROR)
        return CallErrorFrame(unique_id, code, description, details)
    raise FrameError(f"unknown message type {message_type!r}", unique_id=unique_id)


def unique_id_factory() -> Callable[[], str]:
    """Return a cheap generator of unique ids: a random per-factory prefix and a counter.

    Cheaper than a uuid4 per message, and the random prefix keeps ids distinct across
    reconnections and across stations, which makes CSMS logs easy to correlate."""
    prefix = os.urandom(4).hex()
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a trailing Z: `2026-11-26T08:00:00.123Z`.

    Z rather than +00:00 because some CSMS implementations reject offsets."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass an aware one")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_timestamp() -> str:
    """The current time as an OCPP timestamp."""
    return format_timestamp(datetime.now(UTC))


def parse_timestamp(text: str) -> datetime:
    """Parse an OCPP timestamp; one without an offset is taken as UTC, as sent by many servers."""
    moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
