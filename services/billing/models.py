from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict


class SessionStopped(BaseModel):
    """A finished session, as the sessions service reports it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_id: int
    station_id: str
    connector_id: int
    id_tag: str | None = None
    meter_start_wh: int
    meter_stop_wh: int
    started_at: AwareDatetime
    stopped_at: AwareDatetime
    # energy readings of the session telemetry must hold before it is priced
    awaited_readings: list[AwareDatetime] = []
    # "station" (its StopTransaction: final), or why the platform closed it ("reboot", ...)
    closed_by: str | None = None
