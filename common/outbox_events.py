"""The outbox's events: the path each one is delivered to at the service that receives it, and
what it carries. One declaration for both sides: the sender builds the event and the outbox
writes it as it is (orjson, datetimes as RFC 3339); the receiver validates it (`parse`), which
also turns the text of its datetimes back into datetimes.

The session events are dataclasses. The MeterValues events, the bulk of the traffic, are
TypedDicts: the gateway builds one per MeterValues a station sends, and a dict costs it a
fraction of a dataclass.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, NotRequired, TypeVar, cast

from pydantic import AwareDatetime, Field, TypeAdapter

# pydantic reads a TypedDict's fields only from typing_extensions' on Python < 3.12
from typing_extensions import TypedDict

T = TypeVar("T")

# the gateway (`ocpp`) to sessions
SESSION_START = "/internal/ocpp/session-start"
SESSION_STOP = "/internal/ocpp/session-stop"
STATION_BOOTED = "/internal/ocpp/station-booted"
# the gateway to telemetry: one station's MeterValues, or many stations' (one event per commit)
METER_VALUES = "/internal/ocpp/meter-values"
METER_VALUES_BATCH = "/internal/ocpp/meter-values/batch"
# sessions to billing
SESSION_STOPPED = "/internal/ocpp/session-stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class LastMeterReading:
    transaction_id: int
    meter_wh: int | None = None
    meter_at: AwareDatetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStart:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStop:
    transaction_id: int
    station_id: str
    meter_stop_wh: int
    stopped_at: AwareDatetime
    reason: str = "Local"
    id_tag: str | None = None
    # the energy readings telemetry must hold before the session is billed; passed to billing
    awaited_readings: list[AwareDatetime] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class AbandonedTransaction(LastMeterReading):
    connector_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StationBooted:
    """A station booted: the transactions it left open are closed from their last reading."""

    station_id: str
    booted_at: datetime
    open_transactions: list[AbandonedTransaction] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStopped:
    """A finished session, to be billed."""

    session_id: int
    station_id: str
    connector_id: int
    meter_start_wh: int
    meter_stop_wh: int
    started_at: AwareDatetime
    stopped_at: AwareDatetime
    id_tag: str | None = None
    # energy readings of the session telemetry must hold before it is priced
    awaited_readings: list[AwareDatetime] = field(default_factory=list)
    # "station" (its StopTransaction: final), or why the platform closed it ("reboot", ...)
    closed_by: str | None = None


class SampledValue(TypedDict):
    """OCPP 1.6's SampledValue: only `value` is always there; no `measurand` is the energy register."""

    value: str
    context: NotRequired[str]
    format: NotRequired[str]
    measurand: NotRequired[str]
    phase: NotRequired[str]
    location: NotRequired[str]
    unit: NotRequired[str]


# OCPP 1.6's MeterValue; the functional form keeps its field name as OCPP spells it
MeterValue = TypedDict("MeterValue", {  # noqa: UP013
    "timestamp": AwareDatetime,
    "sampledValue": Annotated[list[SampledValue], Field(min_length=1)],
})


class MeterValues(TypedDict):
    station_id: str
    connector_id: Annotated[int, Field(ge=0)]
    transaction_id: NotRequired[int | None]
    meter_value: Annotated[list[MeterValue], Field(min_length=1)]


class MeterValuesBatch(TypedDict):
    meter_values: list[MeterValues]


def as_meter_values(meter_value: list[dict[str, Any]]) -> list[MeterValue]:
    """A station's meterValue as it sent it: the gateway checked it against OCPP's schema, which
    is MeterValue's shape (its timestamps still text, which the receiver parses)."""
    return cast(list[MeterValue], meter_value)


@functools.cache
def _adapter(contract: Any) -> TypeAdapter[Any]:
    return TypeAdapter(contract)


def parse(contract: type[T], payload: Any) -> T:
    """The event a receiver was sent, validated; raises pydantic's ValidationError."""
    event: T = _adapter(cast(Hashable, contract)).validate_python(payload)
    return event
