"""The whole platform from `chargeplane up`, driven by an independent charge point
(the `ocpp` package's ChargePoint, strict schema validation) and by our emulator."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime

import asyncpg
import pytest
import websockets
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus

from chargeplane.supervisor import python_module
from support.waiting import wait_for

from .conftest import OtlpReceiver, RunningPlatform

pytestmark = pytest.mark.e2e


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IndependentChargePoint(ChargePoint):
    """Someone else's OCPP 1.6J implementation; validates every reply against the schemas."""


async def test_independent_charge_point_completes_a_session(
    running_platform: RunningPlatform, otlp: OtlpReceiver
) -> None:
    running_platform.cli("station", "add", "IND-1")
    url = f"{running_platform.env['OCPP_URL']}/IND-1"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
        cp = IndependentChargePoint("IND-1", ws)
        listener = asyncio.create_task(cp.start())
        boot = await cp.call(call.BootNotification(charge_point_model="Indie", charge_point_vendor="Elsewhere"))
        assert boot.status == RegistrationStatus.accepted
        assert boot.current_time.endswith("Z")
        auth = await cp.call(call.Authorize(id_tag="RFID-1"))
        assert auth.id_tag_info["status"] == AuthorizationStatus.accepted
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="RFID-1", meter_start=100,
                                                    timestamp=now()))
        tx = start.transaction_id
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": now(), "sampledValue": [
                {"value": "5100", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        stop = call.StopTransaction(meter_stop=10100, timestamp=now(), transaction_id=tx, id_tag="RFID-1")
        await cp.call(stop)
        await cp.call(stop)  # the station never saw the first reply: it sends the stop again
        listener.cancel()

    conn = await asyncpg.connect(running_platform.env["DATABASE_URL"])
    try:
        async def billed() -> bool:
            return bool(await conn.fetchval("SELECT count(*) FROM billing_transactions WHERE session_id = $1", tx))

        await wait_for(billed)
        await asyncio.sleep(1)  # a second bill, were there one, would show by now
        sessions = await conn.fetch("SELECT * FROM charging_sessions WHERE station_id = 'IND-1'")
        assert len(sessions) == 1
        assert (sessions[0]["meter_start_wh"], sessions[0]["meter_stop_wh"]) == (100, 10100)
        assert await conn.fetchval("SELECT count(*) FROM billing_transactions WHERE session_id = $1", tx) == 1
        assert await conn.fetchval("SELECT energy_wh FROM billing_transactions WHERE session_id = $1", tx) == 10000
        assert await conn.fetchval("SELECT count(*) FROM telemetry_data WHERE session_id = $1", tx) == 1
    finally:
        await conn.close()

    async def one_trace_over_three_services() -> bool:
        by_trace: dict[str, set[str]] = {}
        for service, trace_id, _ in otlp.spans:
            by_trace.setdefault(trace_id, set()).add(service)
        return any({"ocpp", "sessions", "billing"} <= services for services in by_trace.values())

    await wait_for(one_trace_over_three_services, within_s=20)


async def test_emulated_fleet_charges_and_every_table_has_its_rows(running_platform: RunningPlatform,
                                                                   tmp_path) -> None:
    running_platform.cli("station", "add", "--count", "3", "--prefix", "EMU-")
    summary_path = tmp_path / "summary.json"
    done = await asyncio.to_thread(
        subprocess.run,
        python_module("chargeplane.emulator", "--url", running_platform.env["OCPP_URL"], "--stations", "3",
                      "--sessions", "1", "--session-seconds", "2", "--meter-interval", "0.5", "--summary-json",
                      str(summary_path), "--quiet"),
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["sessions_completed"] == 3

    conn = await asyncpg.connect(running_platform.env["DATABASE_URL"])
    try:
        async def all_billed() -> bool:
            return await conn.fetchval("SELECT count(*) FROM billing_transactions") == 3

        await wait_for(all_billed)
        assert await conn.fetchval("SELECT count(*) FROM charging_sessions WHERE status = 'completed'") == 3
        assert await conn.fetchval("SELECT count(DISTINCT session_id) FROM telemetry_data") == 3
        assert await conn.fetchval("SELECT count(*) FROM charging_stations WHERE vendor IS NOT NULL") == 3
        assert await conn.fetchval("SELECT count(*) FROM connectors") >= 3
        assert await conn.fetchval("SELECT count(*) FROM ocpp_message_log") > 0

        async def outbox_drained() -> bool:  # a relay deletes its events just after their receiver answers
            return await conn.fetchval("SELECT count(*) FROM outbox") == 0

        await wait_for(outbox_drained, within_s=10)
        await conn.execute("REFRESH MATERIALIZED VIEW energy_by_session")
        assert await conn.fetchval("SELECT count(*) FROM energy_by_session WHERE energy_wh > 0") == 3
    finally:
        await conn.close()
