"""Exceptions a station raises to whoever drives it (fleet, GUI, tests)."""

from __future__ import annotations


class StationOffline(ConnectionError):
    """The station has no open connection to the CSMS (or lost it while waiting)."""


class CallTimeout(TimeoutError):
    """The CSMS did not answer a CALL within the call timeout."""

    def __init__(self, action: str, unique_id: str, timeout: float) -> None:
        super().__init__(f"no reply to {action} ({unique_id}) within {timeout:g} s")
        self.action = action
        self.unique_id = unique_id


class ConnectorStateError(RuntimeError):
    """A session operation that the connector's current state does not allow."""


class ConnectorBusy(ConnectorStateError):
    pass


class ConnectorUnavailable(ConnectorStateError):
    pass


class NoActiveTransaction(ConnectorStateError):
    pass


class ConnectorReserved(ConnectorStateError):
    """The connector is reserved for another id tag."""


class SessionRejected(Exception):
    """The CSMS refused the idTag (Authorize or StartTransaction idTagInfo not Accepted)."""

    def __init__(self, id_tag: str, status: str) -> None:
        super().__init__(f"idTag {id_tag!r} was not accepted: {status}")
        self.id_tag = id_tag
        self.status = status
