"""`make bench-ab BASELINE=<python>`: this tree's gateway against another installation's, in turn.

Two runs of `make bench` on the same code differ by more than most changes do (docs/performance.md),
so a change to the hot path is judged here: one platform (PostgreSQL, Redis and the downstream
services of this tree), and the two gateways started on it in turn, A B B A A B ..., each under
the same load. Per run: a closed loop (capacity: answered messages per second of the gateway's
core) and an open loop at a fixed rate (the gateway's CPU per message at equal load). It prints
each run, then the medians and the ratios of each pair. BASELINE is the Python of a virtualenv
that has the other tree installed (`git worktree add ../before REV`, `make install` there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fleet import Fleet
from .phases import PREFIX, TRACING_OFF, closed_loop, equal_load, wait_drained, with_gateway
from .platform import HARNESS_CORE, BenchPlatform, Pinned, raise_fd_limit

DRAIN_S = 60.0


@dataclass(frozen=True)
class Probe:
    stations: int = 2000
    load_generators: int = 2
    warmup_s: float = 3.0
    measure_s: float = 10.0
    rate: float = 1350.0  # about half the gateway's closed-loop throughput on this machine


async def one_run(platform: BenchPlatform, probe: Probe, python: str | None) -> dict[str, Any]:
    async def measure(gateway: Pinned, fleet: Fleet) -> dict[str, Any]:
        await fleet.run(probe.warmup_s)
        loop = await closed_loop(gateway, fleet, probe.measure_s)
        await wait_drained(platform, DRAIN_S)
        equal = await equal_load(gateway, fleet, probe.rate, probe.measure_s)
        await wait_drained(platform, DRAIN_S)
        return {"capacity": loop["capacity"], "throughput": loop["throughput"],
                "cpu_us_per_message": equal["cpu_us_per_message"], "equal_load_throughput": equal["throughput"],
                "errors": {**loop["errors"], **equal["errors"]}}

    return await with_gateway(platform, TRACING_OFF, probe.stations, probe.load_generators, measure, python)


async def alternate(platform: BenchPlatform, probe: Probe, baseline: str, rounds: int) -> list[dict[str, Any]]:
    runs = []
    for round_ in range(rounds):
        # A B, then B A: neither side always goes first onto a machine that has just settled
        order: list[tuple[str, str | None]] = [("this", None), ("baseline", baseline)]
        for side, python in order if round_ % 2 == 0 else order[::-1]:
            run = {"round": round_, "side": side, **await one_run(platform, probe, python)}
            print(json.dumps(run), flush=True)
            runs.append(run)
    return runs


def summary(runs: list[dict[str, Any]]) -> list[str]:
    this = [run for run in runs if run["side"] == "this"]
    baseline = [run for run in runs if run["side"] == "baseline"]
    lines = []
    for figure in ("capacity", "cpu_us_per_message"):
        ratios = [a[figure] / b[figure] for a, b in zip(this, baseline, strict=True)]
        lines.append(f"{figure}: this {statistics.median(r[figure] for r in this):,.0f}, "
                     f"baseline {statistics.median(r[figure] for r in baseline):,.0f} (medians); "
                     f"this/baseline per round {', '.join(f'{ratio:.3f}' for ratio in ratios)}, "
                     f"median {statistics.median(ratios):.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chargeplane.bench.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", help="the Python of the installation to compare with")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of runs (default: %(default)s)")
    parser.add_argument("--stations", type=int, default=Probe.stations)
    parser.add_argument("--seconds", type=float, default=Probe.measure_s, help="each loop's length")
    parser.add_argument("--rate", type=float, default=Probe.rate, help="the equal load, messages/s")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        sys.exit("the benchmark needs two cores: one for the gateway, one for everything else")
    probe = Probe(stations=args.stations, load_generators=min(2, args.stations), warmup_s=min(3.0, args.seconds),
                  measure_s=args.seconds, rate=args.rate)
    raise_fd_limit()
    os.sched_setaffinity(0, {HARNESS_CORE})
    data_dir = Path(tempfile.mkdtemp(prefix="chargeplane-bench-ab-"))
    platform = BenchPlatform(data_dir)
    try:
        platform.start(None, None)
        platform.register_stations(PREFIX, probe.stations)
        runs = asyncio.run(alternate(platform, probe, args.baseline, args.rounds))
    finally:
        platform.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print("\n".join(summary(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
