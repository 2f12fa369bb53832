"""What a station reports to whoever watches it (CLI, GUI, fault-injection suite).

A station emits events only when someone listens: with no listener no event object or
decoded frame text is ever built, which keeps thousands of headless stations cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)


class EventKind(StrEnum):
    FRAME_SENT = "sent"
    FRAME_RECEIVED = "received"
    CONNECTION = "connection"
    CONNECTOR = "connector"
    # A CALL from the CSMS (RemoteStartTransaction, Reset, ...) and how the station answered it.
    CSMS_CALL = "csms call"
    ERROR = "error"


class ConnectionState(StrEnum):
    DISCONNECTED = "Disconnected"
    CONNECTING = "Connecting"
    # The socket is open but the CSMS has not accepted the BootNotification yet.
    BOOTING = "Booting"
    ONLINE = "Online"
    CLOSED = "Closed"


@dataclass(frozen=True, slots=True)
class StationEvent:
    kind: EventKind
    station_id: str
    # One human-readable line: `SEND: [2,"..","Heartbeat",{}]`, `RECV: [...]`,
    # `connection: Online`, `connector 1: Charging`, `Reset: Accepted`, or an error description.
    text: str
    connector_id: int | None = None
    # The new connection state or connector status, for CONNECTION and CONNECTOR events.
    state: str | None = None
    error: BaseException | None = None


EventListener = Callable[[StationEvent], None]


class EventEmitter:
    """A small observer list. Truthy only when someone listens, so callers can skip
    building an event at all: `if self.events: self.events.emit(...)`."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[EventListener] = []

    def add(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def remove(self, listener: EventListener) -> None:
        self._listeners.remove(listener)

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, event: StationEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                # A broken observer (say, a closed GUI window) must not break the station.
                logger.exception("station event listener failed")
