"""What a handler knows about the station whose message it handles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from chargeplane.common.timeutil import parse_ocpp

from .auth_client import AuthClient
from .protocol import ErrorCode, OcppError
from .store import OpenTransaction, Station, StationStore

if TYPE_CHECKING:
    from .configuration import ConfigurationSync
    from .security import StationSecurity


@dataclass(slots=True)
class StationContext:
    station: Station
    store: StationStore
    auth: AuthClient
    # connector id -> its open transaction; loaded at connect, kept by the handlers
    open_transactions: dict[int, OpenTransaction] = field(default_factory=dict)
    security: StationSecurity | None = None
    configuration: ConfigurationSync | None = None
    # CALLs the CSMS sends once the reply to the station's CALL is out (GetConfiguration after
    # an accepted BootNotification, CertificateSigned after SignCertificate): the connection
    # runs them in the background after the reply.
    after_reply: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # told (with the station id) when a reboot ended its transactions; must return at once
    transactions_changed: Callable[[str], None] = lambda _: None
    # told (with the site id) when a transaction started or ended at a station of a charging site
    site_changed: Callable[[str], None] = lambda _: None

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
