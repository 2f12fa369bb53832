"""OCPP-J 1.6 framing: parse a text frame, build CALLRESULT and CALLERROR frames.

Frames are `[2, uid, action, payload]` (CALL), `[3, uid, payload]` (CALLRESULT) and
`[4, uid, errorCode, errorDescription, errorDetails]` (CALLERROR).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

import orjson

# A CALLERROR answering a frame whose unique id cannot be read (OCPP 2.0.1 names this
# convention; 1.6 is silent and stations in the field accept it).
UNKNOWN_UNIQUE_ID = "-1"
MAX_UNIQUE_ID_LENGTH = 36


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class ErrorCode(StrEnum):
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # sic, the 1.6 spelling
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class OcppError(Exception):
    """Raised by parsing, validation or a handler; answered with a CALLERROR."""

    def __init__(self, code: ErrorCode, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallErrorFrame:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallErrorFrame


class FrameError(OcppError):
    """A frame that is not OCPP-J; carries the unique id when it could be read.

    `answerable` is False for a broken CALLRESULT or CALLERROR: OCPP-J answers CALLs only,
    and a reply to a reply could loop between two peers.
    """

    def __init__(self, unique_id: str, code: ErrorCode, description: str, answerable: bool = True) -> None:
        super().__init__(code, description)
        self.unique_id = unique_id
        self.answerable = answerable


def parse_frame(text: str | bytes) -> Frame:
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(UNKNOWN_UNIQUE_ID, ErrorCode.FORMATION_VIOLATION, f"frame is not JSON: {exc}") from exc
    is_reply = (isinstance(frame, list) and bool(frame) and not isinstance(frame[0], bool)
                and frame[0] in (MessageType.CALLRESULT, MessageType.CALLERROR))
    if not isinstance(frame, list) or len(frame) < 3:
        raise FrameError(UNKNOWN_UNIQUE_ID, ErrorCode.FORMATION_VIOLATION,
                         "frame must be a JSON array [MessageTypeId, UniqueId, ...]", answerable=not is_reply)
    message_type, unique_id = frame[0], frame[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(UNKNOWN_UNIQUE_ID, ErrorCode.FORMATION_VIOLATION,
                         f"UniqueId must be a non-empty string of at most {MAX_UNIQUE_ID_LENGTH} characters",
                         answerable=not is_reply)
    if message_type == MessageType.CALL and not isinstance(message_type, bool):
        if len(frame) != 4 or not isinstance(frame[2], str):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION, "CALL must be [2, UniqueId, Action, {payload}]")
        if not isinstance(frame[3], dict):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION, "CALL payload must be a JSON object")
        return Call(unique_id, frame[2], frame[3])
    if message_type == MessageType.CALLRESULT and not isinstance(message_type, bool):
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION, "CALLRESULT must be [3, UniqueId, {payload}]",
                             answerable=False)
        return CallResult(unique_id, frame[2])
    if message_type == MessageType.CALLERROR and not isinstance(message_type, bool):
        if len(frame) != 5 or not isinstance(frame[2], str) or not isinstance(frame[4], dict):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION,
                             "CALLERROR must be [4, UniqueId, ErrorCode, ErrorDescription, {details}]",
                             answerable=False)
        return CallErrorFrame(unique_id, frame[2], str(frame[3]), frame[4])
    raise FrameError(unique_id, ErrorCode.PROTOCOL_ERROR, f"unknown MessageTypeId {message_type!r}")


def call_result(unique_id: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([MessageType.CALLRESULT, unique_id, payload]).decode()


def call_error(unique_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    return orjson.dumps([MessageType.CALLERROR, unique_id, code, description[:255], details or {}]).decode()


def call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([MessageType.CALL, unique_id, action, payload]).decode()
