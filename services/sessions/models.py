"""What the gateway tells the sessions service (bodies of the internal endpoints)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LastMeterReading(_Body):
    transaction_id: int
    meter_wh: int | None = None
    meter_at: AwareDatetime | None = None


class SessionStart(_Body):
    transaction_id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: AwareDatetime
    reservation_id: int | None = None
    traceparent: str | None = None
    # the session the station left open on this connector, closed by this start
    superseded: LastMeterReading | None = None


class SessionStop(_Body):
    transaction_id: int
    station_id: str
    meter_stop_wh: int
    stopped_at: AwareDatetime
    reason: str = "Local"
    id_tag: str | None = None
    # the energy readings telemetry must hold before the session is billed; passed to billing
    awaited_readings: list[AwareDatetime] = []


class AbandonedTransaction(LastMeterReading):
    connector_id: int


class StationBooted(_Body):
    station_id: str
    booted_at: datetime
    open_transactions: list[AbandonedTransaction] = []
