"""The hostile-input suite runs against a real `chargeplane up`, one per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.platform import RunningPlatform, running_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with running_platform(tmp_path_factory.mktemp("hostile") / "up.log") as running:
        running.cli("station", "add", "FUZZ-1", "FUZZ-2", "RACE-1")
        yield running


@pytest.fixture(scope="module")
def ocpp_url(platform: RunningPlatform) -> str:
    return platform.env["OCPP_URL"]


def log_of(platform: RunningPlatform, service: str) -> str:
    return (Path(platform.data_dir) / "logs" / f"{service}.log").read_text()
