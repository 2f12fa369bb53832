"""MeterValues as the gateway forwards them (OCPP 1.6 field names inside)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class SampledValue(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    value: str
    context: str | None = None
    format: str | None = None
    measurand: str = "Energy.Active.Import.Register"  # the OCPP 1.6 default
    phase: str | None = None
    location: str | None = None
    unit: str | None = None

    def numeric(self) -> Decimal:
        return Decimal(self.value)


class MeterValue(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    timestamp: AwareDatetime
    sampled_value: list[SampledValue] = Field(alias="sampledValue", min_length=1)


class MeterValuesBatch(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    station_id: str
    connector_id: int = Field(ge=0)
    transaction_id: int | None = None
    meter_value: list[MeterValue] = Field(min_length=1)
