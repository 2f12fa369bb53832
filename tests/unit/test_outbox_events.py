"""The outbox's event contracts: what a sender builds, written as the outbox writes it, is what
the receiver parses (common/outbox_events.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from chargeplane.common.outbox_events import (
    AbandonedTransaction,
    LastMeterReading,
    MeterValues,
    MeterValuesBatch,
    SessionStart,
    SessionStop,
    SessionStopped,
    StationBooted,
    as_meter_values,
    parse,
)

AT = datetime(2026, 12, 1, 8, 30, 15, 250000, tzinfo=UTC)
OCPP_METER_VALUE = [{"timestamp": "2026-12-01T08:30:15Z", "sampledValue": [
    {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}, {"value": "11000"}]}]


@pytest.mark.parametrize("event", [
    SessionStart(transaction_id=7, station_id="CP-1", connector_id=1, id_tag="TAG", meter_start_wh=0, started_at=AT,
                 superseded=LastMeterReading(transaction_id=6, meter_wh=900, meter_at=AT)),
    SessionStop(transaction_id=7, station_id="CP-1", meter_stop_wh=1500, stopped_at=AT, awaited_readings=[AT]),
    StationBooted(station_id="CP-1", booted_at=AT, open_transactions=[
        AbandonedTransaction(transaction_id=7, connector_id=1, meter_wh=None, meter_at=None)]),
    SessionStopped(session_id=7, station_id="CP-1", connector_id=1, meter_start_wh=0, meter_stop_wh=1500,
                   started_at=AT, stopped_at=AT, closed_by="station"),
])
def test_a_session_event_comes_back_as_it_was_sent(event: object) -> None:
    assert parse(type(event), orjson.loads(orjson.dumps(event))) == event


def test_meter_values_travel_as_the_station_sent_them_and_arrive_typed() -> None:
    entry = MeterValues(station_id="CP-1", connector_id=1, transaction_id=7,
                        meter_value=as_meter_values(OCPP_METER_VALUE))
    sent = orjson.loads(orjson.dumps(MeterValuesBatch(meter_values=[entry])))
    assert sent["meter_values"][0]["meter_value"] == OCPP_METER_VALUE
    [received] = parse(MeterValuesBatch, sent)["meter_values"]
    assert received["meter_value"][0]["timestamp"] == datetime(2026, 12, 1, 8, 30, 15, tzinfo=UTC)


def test_what_no_receiver_can_store_is_refused() -> None:
    with pytest.raises(ValidationError, match="connector_id"):
        parse(MeterValues, {"station_id": "CP-1", "connector_id": -1, "meter_value": OCPP_METER_VALUE})
    with pytest.raises(ValidationError, match="started_at"):
        parse(SessionStart, {"transaction_id": 7, "station_id": "CP-1", "connector_id": 1, "id_tag": "T",
                             "meter_start_wh": 0, "started_at": "2026-12-01T08:30:15"})  # no offset
