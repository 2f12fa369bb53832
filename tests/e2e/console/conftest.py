"""The console's browser suite: `chargeplane up` and a fleet of emulated stations, started once
for the suite, and Debian's Chromium driven by Playwright (never a browser of
Playwright's own download). Without Chromium or axe-core it skips with one line
(`scripts/install-browser.sh` provides both); CI makes that a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chargeplane.supervisor import python_module
from support.platform import RunningPlatform, interrupt, running_platform
from support.requirements import missing_tool

CONSOLE_DIR = Path(__file__).resolve().parents[3] / "services" / "api_gateway" / "console"
AXE = CONSOLE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# What Chromium needs to start as root on a machine without a display, GPU or outside network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "console-test-password"
FLEET = [f"DEPOT-{n:04d}" for n in range(1, 7)]
IDLE = ["CITY-0001", "CITY-0002", "CITY-0003"]  # registered, never connected


@dataclass
class Console:
    platform: RunningPlatform
    url: str  # the console's address, ending in /
    fleet: subprocess.Popen[bytes]

    def api(self, path: str, token: str | None = None) -> Any:
        """GET the public API as an operate client (what the browser shows is checked against it)."""
        request = urllib.request.Request(self.url + "api/v1" + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def token(self) -> str:
        body = json.dumps({"client_id": "console-tests", "client_secret": PASSWORD}).encode()
        request = urllib.request.Request(self.url + "api/v1/auth/token", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["access_token"])

    def station(self, station_id: str, *extra: str) -> subprocess.Popen[bytes]:
        """An emulated station of its own, connecting now."""
        return subprocess.Popen(python_module("chargeplane.emulator", "--url", self.platform.env["OCPP_URL"],
                                              "--station-id", station_id, "--meter-interval", "2", "--quiet", *extra),
                                env={**os.environ, **self.platform.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    interrupt(process, 20)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        missing_tool("Chromium (Debian's chromium package)", "scripts/install-browser.sh")
    return path


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE.exists():
        missing_tool("axe-core (from the npm registry)", "scripts/install-browser.sh")
    return AXE


@pytest.fixture(scope="module")
def console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Once for the suite (one module); gone before the other suites run (its fleet keeps charging)."""
    logs = tmp_path_factory.mktemp("console-platform")
    with running_platform(logs / "up.log") as platform:
        platform.cli("station", "add", *FLEET, *IDLE, "--heartbeat-interval", "30")
        platform.cli("user", "add", "operator", "--role", "operate", "--password", PASSWORD)
        platform.cli("user", "add", "viewer", "--role", "read", "--password", PASSWORD)
        platform.cli("client", "add", "console-tests", "--scopes", "read,operate", "--secret", PASSWORD)
        # stations charging session after session, with pauses between: some charge, some wait
        fleet = subprocess.Popen(
            python_module("chargeplane.emulator", "--url", platform.env["OCPP_URL"], "--stations", str(len(FLEET)),
                          "--prefix", "DEPOT-", "--sessions", "0", "--forever", "--session-seconds", "45",
                          "--max-pause", "8", "--meter-interval", "2", "--power-kw", "22", "--seed", "3", "--quiet"),
            env={**os.environ, **platform.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield Console(platform, platform.env["CONSOLE_URL"], fleet)
        finally:
            stop(fleet)


# Module-scoped: while Playwright's sync API is open, its event loop counts as running in this
# thread, and the tests after this module start loops of their own (asyncio.run).
@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # what a page shows may take a busy 2-core machine a while
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, console: Console) -> Iterator[Any]:
    """A page in a browser profile of its own (no cookies), 1,280 px wide; `new_page(**options)`."""
    contexts = []

    def make(**options: Any) -> Any:
        context = browser.new_context(base_url=console.url, viewport=options.pop("viewport", {"width": 1280,
                                                                                             "height": 900}), **options)
        context.set_default_timeout(30_000)  # a busy 2-core machine
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, user: str, password: str = PASSWORD, path: str = "/", *, signed_in: bool = True) -> None:
    """Sign in from `path` (which the console shows afterwards); `signed_in`: wait until it is."""
    from playwright.sync_api import expect

    page.goto(path)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if signed_in:
        expect(page.locator("#who")).to_contain_text(user)


def wait_until(predicate: Any, within_s: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate.__name__}")
        time.sleep(0.3)
