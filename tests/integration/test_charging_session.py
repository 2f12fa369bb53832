"""A whole charging session through the real services, checked in every table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.station import RawStation, energy_sample, now_z

STATION = "CP-TEST-1"


@pytest.fixture
async def station(platform, http: aiohttp.ClientSession) -> AsyncIterator[RawStation]:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        assert ws.protocol == "ocpp1.6"
        yield RawStation(ws)


async def boot(station: RawStation) -> None:
    reply = await station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "T1"})
    assert reply["status"] == "Accepted"
    assert reply["currentTime"].endswith("Z")


async def start(station: RawStation, meter_start: int = 1000, connector: int = 1, at: str | None = None) -> int:
    reply = await station.call("StartTransaction", {"connectorId": connector, "idTag": "TAG1",
                                                    "meterStart": meter_start, "timestamp": at or now_z()})
    assert reply["idTagInfo"]["status"] == "Accepted"
    return int(reply["transactionId"])


async def test_session_is_recorded_billed_and_metered(platform, station: RawStation) -> None:
    await boot(station)
    assert "currentTime" in await station.call("Heartbeat", {})
    await station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"})
    assert (await station.call("Authorize", {"idTag": "TAG1"}))["idTagInfo"]["status"] == "Accepted"
    transaction_id = await start(station)
    await station.call("MeterValues", {"connectorId": 1, "transactionId": transaction_id,
                                       "meterValue": [energy_sample(3000)]})
    stop = {"transactionId": transaction_id, "meterStop": 6000, "timestamp": now_z(), "reason": "Local",
            "idTag": "TAG1"}
    await station.call("StopTransaction", stop)
    await station.call("StopTransaction", stop)  # its first reply was "lost": sent again
    await platform.outbox_drained()

    db = platform.db
    session = await db.fetchrow("SELECT * FROM charging_sessions")
    assert session["id"] == transaction_id
    assert (session["status"], session["meter_start_wh"], session["meter_stop_wh"]) == ("completed", 1000, 6000)
    assert session["closed_by"] == "station"
    bills = await db.fetch("SELECT * FROM billing_transactions")
    assert len(bills) == 1
    bill = bills[0]
    assert bill["session_id"] == transaction_id and bill["energy_wh"] == 5000
    # default tariff: 5 kWh x 0.30 + 0.50 flat = 2.00, 19 % tax = 0.38
    assert bill["amount_excl_tax"] == Decimal("2.00")
    assert bill["amount_incl_tax"] == Decimal("2.38")
    assert {item["dimension"] for item in bill["line_items"]} == {"ENERGY", "FLAT"}
    measurands = {r["measurand"] for r in await db.fetch("SELECT measurand FROM telemetry_data WHERE session_id = $1",
                                                          transaction_id)}
    assert measurands == {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import"}
    station_row = await db.fetchrow("SELECT * FROM charging_stations WHERE id = $1", STATION)
    assert (station_row["vendor"], station_row["model"], station_row["connected"]) == ("Test", "T1", True)
    assert station_row["last_heartbeat_at"] is not None
    connector = await db.fetchrow("SELECT * FROM connectors WHERE station_id = $1 AND connector_id = 1", STATION)
    assert connector["status"] == "Preparing" and connector["transaction_id"] is None
    assert connector["meter_wh"] == 6000


async def test_every_frame_is_logged(platform, station: RawStation) -> None:
    await boot(station)
    await station.call("Heartbeat", {})
    for _ in range(100):
        count = await platform.db.fetchval("SELECT count(*) FROM ocpp_message_log WHERE station_id = $1", STATION)
        if count == 6:
            break
        await __import__("asyncio").sleep(0.05)
    rows = await platform.db.fetch("SELECT direction, action, message_type FROM ocpp_message_log ORDER BY id")
    # the gateway's own GetConfiguration after the accepted boot, and the station's CALLERROR to it
    frames = [(r["direction"], r["message_type"], r["action"]) for r in rows]
    gateway_call = [frame for frame in frames if frame[2] == "GetConfiguration" or frame[1] == 4]
    assert gateway_call == [("out", 2, "GetConfiguration"), ("in", 4, None)]
    assert [frame[:2] for frame in frames if frame not in gateway_call] == [("in", 2), ("out", 3), ("in", 2),
                                                                           ("out", 3)]
    assert rows[0]["action"] == "BootNotification"


async def test_repeated_start_gets_the_same_transaction(platform, station: RawStation) -> None:
    await boot(station)
    at = now_z()
    first = await start(station, at=at)
    assert await start(station, at=at) == first
    await platform.outbox_drained()
    assert await platform.db.fetchval("SELECT count(*) FROM charging_sessions") == 1


async def test_reboot_closes_and_bills_the_open_session_from_the_last_meter_value(platform, station) -> None:
    await boot(station)
    transaction_id = await start(station, meter_start=0)
    await station.call("MeterValues", {"connectorId": 1, "transactionId": transaction_id,
                                       "meterValue": [energy_sample(2000)]})
    await boot(station)  # the station rebooted and forgot its transaction
    await platform.outbox_drained()
    session = await platform.db.fetchrow("SELECT * FROM charging_sessions WHERE id = $1", transaction_id)
    assert (session["status"], session["closed_by"], session["meter_stop_wh"]) == ("completed", "reboot", 2000)
    assert await platform.db.fetchval("SELECT energy_wh FROM billing_transactions WHERE session_id = $1",
                                      transaction_id) == 2000


async def test_new_start_on_the_same_connector_closes_the_abandoned_session(platform, station) -> None:
    await boot(station)
    first = await start(station, meter_start=0)
    await station.call("MeterValues", {"connectorId": 1, "transactionId": first, "meterValue": [energy_sample(500)]})
    second = await start(station, meter_start=700)
    await platform.outbox_drained()
    rows = {r["id"]: r for r in await platform.db.fetch("SELECT * FROM charging_sessions")}
    assert rows[first]["closed_by"] == "superseded" and rows[first]["meter_stop_wh"] == 500
    assert rows[second]["status"] == "active"
    assert await platform.db.fetchval("SELECT count(*) FROM billing_transactions") == 1


async def test_stop_for_unknown_transaction_is_accepted_and_recorded(platform, station) -> None:
    await boot(station)
    reply = await station.call("StopTransaction", {"transactionId": 987654, "meterStop": 10,
                                                   "timestamp": "2020-01-01T00:00:00Z", "idTag": "OLD"})
    assert reply["idTagInfo"]["status"] == "Accepted"
    await platform.outbox_drained()
    row = await platform.db.fetchrow("SELECT * FROM unmatched_stop_transactions")
    assert (row["station_id"], row["transaction_id"], row["meter_stop_wh"]) == (STATION, 987654, 10)
    assert await platform.db.fetchval("SELECT count(*) FROM billing_transactions") == 0


async def test_late_stop_with_old_timestamp_is_recorded_as_the_station_says(platform, station) -> None:
    await boot(station)
    transaction_id = await start(station, meter_start=0, at="2026-01-01T10:00:00Z")
    await station.call("StopTransaction", {"transactionId": transaction_id, "meterStop": 4000,
                                           "timestamp": "2026-01-01T11:00:00Z"})
    await platform.outbox_drained()
    session = await platform.db.fetchrow("SELECT * FROM charging_sessions WHERE id = $1", transaction_id)
    assert session["stopped_at"].isoformat() == "2026-01-01T11:00:00+00:00"
    assert await platform.db.fetchval("SELECT energy_wh FROM billing_transactions") == 4000


async def test_a_down_sessions_service_loses_nothing(platform, station: RawStation) -> None:
    await boot(station)
    await platform.stop("sessions")
    transaction_id = await start(station)  # answered at once: the start is durable in the outbox
    await station.call("StopTransaction", {"transactionId": transaction_id, "meterStop": 3000, "timestamp": now_z()})
    assert await platform.db.fetchval("SELECT count(*) FROM charging_sessions") == 0
    await platform.start("sessions")
    await platform.outbox_drained()
    assert await platform.db.fetchval("SELECT status FROM charging_sessions WHERE id = $1", transaction_id) \
        == "completed"
    assert await platform.db.fetchval("SELECT count(*) FROM billing_transactions") == 1


async def test_a_stop_transaction_is_one_trace_across_gateway_sessions_and_billing(
    platform, station: RawStation, spans: InMemorySpanExporter
) -> None:
    await boot(station)
    transaction_id = await start(station)
    await station.call("StopTransaction", {"transactionId": transaction_id, "meterStop": 2000, "timestamp": now_z()})
    await platform.outbox_drained()
    finished = spans.get_finished_spans()
    start_span = next(s for s in finished if s.name == "ocpp StartTransaction")
    trace_id = start_span.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert "ocpp StopTransaction" in names
    ports = {str(s.attributes.get("server.port") or s.attributes.get("net.host.port") or "")
             for s in in_trace if s.kind.name == "SERVER"}
    assert str(platform.ports["sessions"]) in ports, names
    assert str(platform.ports["billing"]) in ports, names
