"""The hostile-input suite runs against one real `chargeplane up`, its limits set low enough
to be hit in seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support.platform import RunningPlatform, running_platform

# OCPP__NAME sets NAME for the gateway only (see chargeplane.supervisor)
GATEWAY_LIMITS = {
    "OCPP__MAX_FRAME_BYTES": str(1 << 20),
    "OCPP__MESSAGE_RATE": "100",
    "OCPP__MESSAGE_BURST": "100",
    "OCPP__KEEPALIVE_TIMEOUT_S": "2",
    "OCPP__MAX_PENDING_HANDSHAKES": "50",
    "OCPP__HANDSHAKE_QUEUE": "100",
    "OCPP__IDLE_HEARTBEATS": "3",
    "OCPP__AUTH_MAX_FAILURES": "5",
    "OCPP__AUTH_FAILURE_WINDOW_S": "60",
}
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with running_platform(tmp_path_factory.mktemp("hostile") / "up.log", GATEWAY_LIMITS) as running:
        running.cli("station", "add", "FUZZ-1", "FUZZ-2", "FLOOD-1", "RACE-1")
        running.cli("station", "add", "IDLE-1", "--heartbeat-interval", "1")
        running.cli("station", "add", "LOCKED-1", "LOCKED-2", "--password", PASSWORD)
        yield running


@pytest.fixture(scope="package")
def ocpp_url(platform: RunningPlatform) -> str:
    return platform.env["OCPP_URL"]


def log_events(platform: RunningPlatform, service: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of `service` that record `event`."""
    lines = (Path(platform.data_dir) / "logs" / f"{service}.log").read_text().splitlines()
    return [entry for entry in map(json.loads, (line for line in lines if line.startswith("{")))
            if entry.get("event") == event]


def gateway_pid(platform: RunningPlatform) -> int:
    return int((Path(platform.data_dir) / "pids" / "ocpp.pid").read_text())


def gateway_rss_kib(platform: RunningPlatform) -> int:
    """The gateway's resident memory, from /proc (Linux)."""
    status = Path(f"/proc/{gateway_pid(platform)}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def upgrade_status(url: str, headers: dict[str, str] | None = None) -> int:
    """101 when the WebSocket upgrade succeeds, else the status it was refused with."""
    try:
        with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=10):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code
