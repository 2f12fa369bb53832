"""`chargeplane demo`: the platform, a fleet of emulated stations for about a minute,
then a summary of what the platform recorded."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from chargeplane.common.db import returned
from chargeplane.common.platformenv import PLATFORM_ENV_NAME, read_platform_env

from .embedded import free_port
from .supervisor import python_module

SUMMARY_SQL = """
SELECT (SELECT count(*) FROM charging_stations WHERE last_boot_at IS NOT NULL) AS stations,
       (SELECT count(*) FROM charging_sessions WHERE status = 'completed') AS sessions,
       (SELECT coalesce(sum(energy_wh), 0) FROM billing_transactions) / 1000.0 AS kwh,
       (SELECT coalesce(sum(amount_incl_tax), 0) FROM billing_transactions) AS billed,
       (SELECT min(currency) FROM billing_transactions) AS currency,
       (SELECT count(*) FROM billing_transactions) AS bills,
       (SELECT count(*) FROM telemetry_data) AS meter_values,
       (SELECT split_part(traceparent, '-', 2) FROM charging_sessions
         WHERE traceparent IS NOT NULL ORDER BY id DESC LIMIT 1) AS trace_id
"""


def _start_platform(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env_file = data_dir / PLATFORM_ENV_NAME
    env_file.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            python_module("chargeplane", "up", "--data-dir", str(data_dir),
                          "--postgres-port", str(free_port()), "--redis-port", str(free_port())),
            stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the platform did not start; see {log_path}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return process, read_platform_env(env_file)


async def _wait_billed(database_url: str, within_s: float) -> asyncpg.Record:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within_s
        while True:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NULL")
            summary = returned(await conn.fetchrow(SUMMARY_SQL))
            if (pending == 0 and summary["bills"] == summary["sessions"]) or time.monotonic() > deadline:
                await conn.execute("REFRESH MATERIALIZED VIEW energy_by_session")
                return summary
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def _print_summary(summary: asyncpg.Record, jaeger_ui_url: str | None) -> None:
    print()
    print("ChargePlane demo summary")
    print("------------------------")
    rows = [
        ("stations booted", f"{summary['stations']}"),
        ("sessions completed", f"{summary['sessions']}"),
        ("energy delivered", f"{summary['kwh']:.3f} kWh"),
        ("bills", f"{summary['bills']}"),
        ("amount billed", f"{summary['billed']:.2f} {summary['currency'] or ''}".strip()),
        ("meter values stored", f"{summary['meter_values']}"),
        ("one session's trace id", summary["trace_id"] or "-"),
    ]
    if summary["trace_id"] and jaeger_ui_url:
        rows.append(("its trace in Jaeger", f"{jaeger_ui_url}/trace/{summary['trace_id']}"))
    for label, value in rows:
        print(f"  {label:<24} {value}")


def _keep_running(args: argparse.Namespace, env: dict[str, str], child_env: dict[str, str]) -> None:
    """The platform stays up and the stations charge on, session after session, until Ctrl-C:
    a live network to open the console on."""
    password = secrets.token_urlsafe(12)
    subprocess.run(python_module("chargeplane", "user", "add", args.user, "--role", "operate", "--password", password),
                   env=child_env, check=True, stdout=subprocess.DEVNULL)
    fleet = subprocess.Popen(
        python_module("chargeplane.emulator", "--url", env["OCPP_URL"], "--stations", str(args.stations), "--prefix",
                      "DEMO-", "--sessions", "0", "--forever", "--session-seconds", "60", "--max-pause", "30",
                      "--meter-interval", "5", "--power-kw", "22", "--quiet"),
        env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"\nThe platform and {args.stations} stations keep running. Open the console:\n")
    print(f"  {env['CONSOLE_URL']}   user {args.user}, password {password}\n")
    print(f"The environment is in {args.data_dir.resolve() / PLATFORM_ENV_NAME}; Ctrl-C stops everything.", flush=True)
    try:
        while fleet.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        fleet.send_signal(signal.SIGINT)
        try:
            fleet.wait(30)
        except subprocess.TimeoutExpired:
            fleet.kill()


def run_demo(args: argparse.Namespace) -> int:
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "demo-platform.log"
    print(f"Starting the platform (embedded PostgreSQL and Redis) in {data_dir} ...", flush=True)
    process, env = _start_platform(data_dir, log_path)
    try:
        child_env = {**os.environ, **env}
        subprocess.run(python_module("chargeplane", "station", "add", "--count", str(args.stations),
                                     "--prefix", "DEMO-", "--heartbeat-interval", "30"), env=child_env, check=True)
        # back-to-back sessions (with short random pauses) fill about `duration` seconds
        session_seconds = max(5, (args.duration - 10) // args.sessions)
        print(f"Running {args.stations} emulated stations x {args.sessions} sessions of {session_seconds} s ...",
              flush=True)
        fleet = subprocess.run(
            python_module("chargeplane.emulator", "--url", env["OCPP_URL"], "--stations", str(args.stations),
                          "--prefix", "DEMO-", "--sessions", str(args.sessions), "--session-seconds",
                          str(session_seconds), "--meter-interval", "5", "--power-kw", "50", "--seed", "7"),
            env=child_env,
        )
        summary = asyncio.run(_wait_billed(env["DATABASE_URL"], 60))
        _print_summary(summary, env.get("JAEGER_UI_URL"))
        print(f"\nPlatform log: {log_path}; service logs: {data_dir / 'logs'}")
        if args.keep_running:
            _keep_running(args, env, child_env)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    ok = fleet.returncode == 0 and summary["sessions"] > 0 and summary["bills"] == summary["sessions"]
    return 0 if ok else 1
