"""What a handler knows about the station whose message it handles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from chargeplane.common.timeutil import parse_ocpp

from .auth_client import AuthClient
from .protocol import ErrorCode, OcppError
from .store import OpenTransaction, Station, StationStore

# Told (with the station id) once a BootNotification was answered Accepted, after the reply:
# where the CSMS may start calls of its own, as OCPP 1.6 allows only then.
BootHook = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class StationContext:
    station: Station
    store: StationStore
    auth: AuthClient
    # the gateway, for what a feature's handlers keep there (`request.app` of a view)
    app: web.Application
    on_boot: Sequence[BootHook] = ()
    # connector id -> its open transaction; loaded at connect, kept by the handlers
    open_transactions: dict[int, OpenTransaction] = field(default_factory=dict)
    # CALLs the CSMS sends once the reply to the station's CALL is out (GetConfiguration after
    # an accepted BootNotification, CertificateSigned after SignCertificate): the connection
    # runs them in the background after the reply.
    after_reply: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def station_id(self) -> str:
        return self.station.id

    def transaction(self, transaction_id: int) -> OpenTransaction | None:
        for open_transaction in self.open_transactions.values():
            if open_transaction.transaction_id == transaction_id:
                return open_transaction
        return None


def timestamp(value: str, field_name: str) -> datetime:
    """A station's timestamp, or the CALLERROR for one that is not a date-time."""
    try:
        return parse_ocpp(value)
    except ValueError as exc:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{field_name}: {value!r} is not a date-time",
                        {"path": field_name}) from exc
