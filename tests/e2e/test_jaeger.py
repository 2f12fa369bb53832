"""Traces in a real Jaeger (v2 all-in-one, built from its Go module by `make tools`): `chargeplane
up --jaeger on` exports every service's spans to it, and one charging session is one trace
holding the spans of the gateway, sessions, billing and telemetry, read back through Jaeger's
query API as a person's browser would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chargeplane.supervisor import python_module
from support.platform import running_platform
from support.tools import require_binary
from support.waiting import wait_for

pytestmark = pytest.mark.e2e


def trace(ui_url: str, trace_id: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{ui_url}/api/traces/{trace_id}", timeout=5) as reply:
            (found,) = json.load(reply)["data"]
            return found  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


async def traced_and_billed(database_url: str, station_id: str) -> str:
    """The trace id of the station's billed session."""
    conn = await asyncpg.connect(database_url)
    try:
        async def found() -> str | None:
            return await conn.fetchval(  # type: ignore[no-any-return]
                "SELECT split_part(s.traceparent, '-', 2) FROM charging_sessions s"
                " JOIN billing_transactions b ON b.session_id = s.id WHERE s.station_id = $1", station_id)

        return await wait_for(found, within_s=60)  # type: ignore[no-any-return]
    finally:
        await conn.close()


def test_one_charging_session_is_one_trace_in_jaeger(tmp_path: Path) -> None:
    jaeger = require_binary("jaeger", "jaeger")
    with running_platform(tmp_path / "up.log", {"CHARGEPLANE_JAEGER": str(jaeger), "OTEL_BSP_SCHEDULE_DELAY": "200"},
                          jaeger=True) as platform:
        ui_url = platform.env["JAEGER_UI_URL"]
        assert "traces (Jaeger)" in (tmp_path / "up.log").read_text()
        # the console links a session to its trace in this Jaeger
        secret = platform.cli("client", "add", "traces", "--scopes", "read").split("client_secret=")[1].split()[0]
        token = json.load(urllib.request.urlopen(urllib.request.Request(
            f"{platform.env['API_URL']}/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"client_id": "traces", "client_secret": secret}).encode())))["access_token"]
        with urllib.request.urlopen(urllib.request.Request(f"{platform.env['API_URL']}/console-settings",
                                                           headers={"Authorization": f"Bearer {token}"})) as reply:
            assert json.load(reply)["trace_url_template"] == f"{ui_url}/trace/{{trace_id}}"
        platform.cli("station", "add", "TRACED-1")
        done = subprocess.run(
            python_module("chargeplane.emulator", "--url", platform.env["OCPP_URL"], "--station-id", "TRACED-1",
                          "--sessions", "1", "--session-seconds", "2", "--meter-interval", "0.5", "--quiet"),
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

        trace_id = asyncio.run(traced_and_billed(platform.env["DATABASE_URL"], "TRACED-1"))

        wanted = {"ocpp", "sessions", "billing", "telemetry"}
        deadline = time.monotonic() + 30
        while True:
            found = trace(ui_url, trace_id)
            services = {p["serviceName"] for p in found["processes"].values()} if found else set()
            if wanted <= services or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert wanted <= services, f"trace {trace_id} in Jaeger has spans of {sorted(services)} only"
        names = {span["operationName"] for span in found["spans"]}
        assert any("StartTransaction" in name for name in names), sorted(names)
        assert any("StopTransaction" in name for name in names), sorted(names)
