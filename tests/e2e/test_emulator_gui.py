"""The desktop emulator's real window on a virtual display, against `chargeplane up`: its
buttons drive a charging session that the platform stores and bills.

With `--gui-screenshot PNG` (`make screenshot`) the test also saves the window mid-session.
"""

from __future__ import annotations

import asyncio
import tkinter as tk
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from chargeplane.emulator.events import ConnectionState
from chargeplane.emulator.gui.__main__ import build_parser, open_window
from chargeplane.emulator.gui.window import StationWindow
from support.display import screenshot
from support.waiting import wait_for

from .conftest import RunningPlatform

pytestmark = pytest.mark.e2e

# Long enough for the screenshot to show energy, meter values and their replies in the log.
SCREENSHOT_CHARGING_SECONDS = 6.0


async def pump(window: StationWindow, condition: Callable[[], object], within: float = 30.0) -> None:
    """Let Tk run (drawing, and the timer that polls the view model) until `condition()` holds."""
    async with asyncio.timeout(within):
        while not condition():
            window.root.update()
            await asyncio.sleep(0.02)


async def test_window_drives_a_session_the_platform_stores_and_bills(
    running_platform: RunningPlatform,
    display: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running_platform.cli("station", "add", "GUI-1")
    monkeypatch.delenv("OCPP_URL", raising=False)  # the URL must come from platform.env
    args = build_parser().parse_args(
        ["--platform-env", str(running_platform.data_dir / "platform.env"), "--station-id", "GUI-1",
         "--power-kw", "22", "--meter-interval", "1"]
    )  # fmt: skip
    window = open_window(tk.Tk(screenName=display, className="chargeplane-emulator"), args)
    vm = window.vm
    connector = window.connectors[0]
    try:
        assert window.connection.url.get() == running_platform.env["OCPP_URL"]
        window.connection.connect_button.invoke()
        await pump(window, lambda: vm.state.connection is ConnectionState.ONLINE)
        assert window.connection.state_label.cget("text") == "● Online"

        connector.plug_button.invoke()
        await pump(window, lambda: vm.connector(1).status == "Preparing")
        connector.id_tag.set("RFID-GUI")
        connector.start_button.invoke()
        await pump(window, lambda: vm.connector(1).status == "Charging")
        assert connector.status_label.cget("text") == "Charging"
        await pump(window, lambda: sum('"MeterValues"' in line.text for line in vm.log) >= 2)
        screenshot_path: Path | None = request.config.getoption("--gui-screenshot")
        if screenshot_path is not None:
            await pump_for(window, SCREENSHOT_CHARGING_SECONDS)
            root = window.root
            left, top = root.winfo_rootx(), root.winfo_rooty()
            screenshot(display, (left, top, left + root.winfo_width(), top + root.winfo_height()), screenshot_path)
        transaction_id = vm.connector(1).transaction_id

        connector.stop_button.invoke()
        await pump(window, lambda: vm.connector(1).transaction_id is None)
        connector.unplug_button.invoke()
        await pump(window, lambda: vm.connector(1).status == "Available")
        log_text = window.log.text.get("1.0", "end")
        assert "Connecting to " in log_text and "SEND: [2," in log_text and "RECV: [3," in log_text
    finally:
        window.close()
        await pump(window, lambda: window.closed)

    conn = await asyncpg.connect(running_platform.env["DATABASE_URL"])
    try:
        async def billed() -> asyncpg.Record | None:
            return await conn.fetchrow("SELECT * FROM billing_transactions WHERE session_id = $1", transaction_id)

        bill = await wait_for(billed)
        session = await conn.fetchrow("SELECT * FROM charging_sessions WHERE id = $1", transaction_id)
        assert (session["station_id"], session["id_tag"], session["status"]) == ("GUI-1", "RFID-GUI", "completed")
        assert session["meter_stop_wh"] > session["meter_start_wh"]
        assert bill["energy_wh"] == session["meter_stop_wh"] - session["meter_start_wh"]
        assert bill["amount_incl_tax"] > 0
        assert not await conn.fetchval("SELECT connected FROM charging_stations WHERE id = 'GUI-1'")
    finally:
        await conn.close()


async def pump_for(window: StationWindow, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    await pump(window, lambda: asyncio.get_running_loop().time() >= deadline, within=seconds + 5)
