"""What an emulated station is made of, as data: its configuration, its counters and the
record of each transaction it completed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

# Where `chargeplane up` serves OCPP on one machine.
DEFAULT_CSMS_URL: Final = "ws://127.0.0.1:8081/ocpp"


@dataclass(frozen=True, slots=True)
class StationConfig:
    station_id: str
    # Base URL; the station connects to `{csms_url}/{station_id}`.
    csms_url: str = DEFAULT_CSMS_URL
    # HTTP Basic auth (OCPP security profile 1) with the station id as user name.
    password: str | None = None
    vendor: str = "ChargePlane"
    model: str = "Emulator"
    firmware_version: str = "chargeplane-emulator"
    connectors: int = 1
    # Overrides the interval the CSMS gives in its BootNotification reply.
    heartbeat_interval: float | None = None
    meter_interval: float = 60.0
    power_kw: float = 11.0
    call_timeout: float = 30.0
    connect_timeout: float = 10.0
    # Wait before re-sending BootNotification after Pending/Rejected with interval 0.
    boot_retry_interval: float = 30.0
    # TransactionMessageAttempts and TransactionMessageRetryInterval (see transaction_queue).
    transaction_attempts: int = 5
    transaction_retry_interval: float = 5.0
    initial_energy_wh: float = 0.0
    # Security profiles 2 and 3 (`wss://` URLs): the CA file the CSMS's certificate must chain
    # to, and the client certificate and key the station starts with (profile 3).
    ca_file: str | None = None
    client_certificate_file: str | None = None
    client_key_file: str | None = None
    # Seeds meter noise and EV state of charge, for reproducible runs.
    seed: int | str | None = None

    def __post_init__(self) -> None:
        if not self.station_id or "/" in self.station_id:
            raise ValueError(f"invalid station id {self.station_id!r}")
        if self.password is not None and ":" in self.station_id:
            raise ValueError("HTTP Basic auth does not allow ':' in the station id")
        if len(self.vendor) > 20 or len(self.model) > 20:
            raise ValueError("OCPP limits vendor and model to 20 characters")
        if self.connectors < 1:
            raise ValueError("a station needs at least one connector")
        for name in ("meter_interval", "call_timeout", "connect_timeout", "boot_retry_interval", "power_kw"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.heartbeat_interval is not None and self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        if self.transaction_attempts < 1 or self.transaction_retry_interval < 0:
            raise ValueError("transaction messages need at least one attempt and a retry interval >= 0")

    @property
    def url(self) -> str:
        return f"{self.csms_url.rstrip('/')}/{quote(self.station_id, safe='')}"


@dataclass(slots=True)
class StationStats:
    """Counters a fleet or GUI can aggregate without listening to every frame."""

    messages_sent: int = 0
    messages_received: int = 0
    connects: int = 0
    connect_failures: int = 0
    # Connections that dropped without the station asking for it.
    disconnects: int = 0
    boots_accepted: int = 0
    call_timeouts: int = 0
    # CALLERROR codes the CSMS answered our CALLs with.
    call_errors: dict[str, int] = field(default_factory=dict)
    transactions_started: int = 0
    transactions_completed: int = 0
    # Sum of meterStop - meterStart over completed transactions.
    energy_delivered_wh: int = 0


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    connector_id: int
    transaction_id: int
    id_tag: str
    meter_start_wh: int
    meter_stop_wh: int
    reason: str
    # Whether the CSMS confirmed the StopTransaction (False: it answered with a CALLERROR).
    acknowledged: bool = True

    @property
    def energy_wh(self) -> int:
        return self.meter_stop_wh - self.meter_start_wh
