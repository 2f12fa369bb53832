"""The benchmark harness, run small so it cannot rot: every phase and figure, the JSON
and the plot. It asserts that the harness works, not a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chargeplane.supervisor import python_module

pytestmark = pytest.mark.bench


def test_a_smoke_run_produces_every_figure_the_json_and_the_plot(tmp_path: Path) -> None:
    done = subprocess.run(python_module("chargeplane.bench", "--smoke", "--out", str(tmp_path)),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [json_path] = tmp_path.glob("*-smoke.json")
    results = json.loads(json_path.read_text())
    for server in ("echo", "peer", "gateway"):
        assert results[server]["throughput"] > 0, server
        assert results[server]["errors"] == {}, server
        assert len(results[server]["sweep"]) == 2
    half = results["gateway"]["half_load"]
    assert half["sessions_timed"] > 0 and half["bills_timed"] > 0, half
    assert results["gateway"]["telemetry"]["values_stored"] > 0
    assert results["memory"][0]["kb_per_station"] > 0
    assert results["storm"]["accepted"] == results["storm"]["stations"] == results["storm"]["statuses_stored"]
    assert set(results["tracing"]) == {"off", "10%", "100%"}
    assert all(traced["equal_load"]["cpu_us_per_message"] > 0 for traced in results["tracing"].values())
    assert results["tracing"]["off"]["spans_per_call"] == 0 < results["tracing"]["100%"]["spans_per_call"]
    assert all(row["value"] for row in results["table"])
    assert json_path.with_suffix(".png").stat().st_size > 10_000
    assert "telemetry ingest" in done.stdout and "gateway / peer" in done.stdout


def test_an_ab_run_alternates_the_two_gateways_and_compares_them(tmp_path: Path) -> None:
    """`make bench-ab`, small: this installation against itself, one round."""
    done = subprocess.run(python_module("chargeplane.bench.ab", sys.executable, "--rounds", "1", "--stations", "20",
                                        "--seconds", "1", "--rate", "50"),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [run["side"] for run in runs] == ["this", "baseline"]
    for run in runs:
        assert run["capacity"] > 0 and run["cpu_us_per_message"] > 0 and run["errors"] == {}, run
    assert "capacity: this" in done.stdout and "cpu_us_per_message: this" in done.stdout
