"""`chargeplane-bench` (`make bench`): measure the gateway against echo and peer on this
machine, print the table, write `bench/results/<date>-<short sha>.json` and the plot."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform as host
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .phases import FULL, SMOKE, run_benchmark
from .platform import BenchPlatform
from .report import format_table, markdown_table, plot, rows


def _short_sha() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "nogit"


def _machine() -> dict[str, object]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), host.processor())
    memory_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal")))
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 2**20, 1),
            "kernel": host.release(), "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chargeplane-bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every phase with a few stations (seconds)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="where the JSON and PNG go")
    parser.add_argument("--database-url", help="use this PostgreSQL instead of an embedded one")
    parser.add_argument("--redis-url", help="use this Redis instead of an embedded one")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        sys.exit("the benchmark needs two cores: one for the process under test, one for everything else")
    config = SMOKE if args.smoke else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d}-{_short_sha()}" + ("-smoke" if args.smoke else "")
    data_dir = Path(tempfile.mkdtemp(prefix="chargeplane-bench-"))
    bench = BenchPlatform(data_dir)

    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f} s] {message}", flush=True)

    try:
        log(f"starting PostgreSQL, Redis and the services in {data_dir}")
        bench.start(args.database_url, args.redis_url)
        results = asyncio.run(run_benchmark(config, bench, None if args.smoke else args.out / f"{stem}-flame.svg",
                                            log))
    finally:
        bench.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    results["machine"] = _machine()
    results["commit"] = _short_sha()
    table = rows(results)
    results["table"] = [row.__dict__ for row in table]
    json_path, png_path = args.out / f"{stem}.json", args.out / f"{stem}.png"
    json_path.write_text(json.dumps(results, indent=1, default=str))
    plot(results, png_path)
    print()
    print(format_table(table))
    print(f"\nmachine: {results['machine']}")
    print(f"wrote {json_path} and {png_path}")
    (args.out / f"{stem}.md").write_text(markdown_table(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
