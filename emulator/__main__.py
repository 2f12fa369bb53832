"""`chargeplane-emulator`: run a fleet of emulated OCPP 1.6J stations against a CSMS."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from .console import format_summary, report_progress
from .fleet import Fleet, FleetConfig, FleetSummary
from .station import DEFAULT_CSMS_URL


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chargeplane-emulator",
        description="Run emulated OCPP 1.6J charging stations against a CSMS.",
    )
    add = parser.add_argument
    add(
        "--url",
        default=os.environ.get("OCPP_URL", DEFAULT_CSMS_URL),
        help="CSMS base URL; stations connect to URL/<station id> (default: %(default)s; $OCPP_URL sets it)",
    )
    add("--stations", type=_non_negative_int, default=1, help="number of stations (default: %(default)s)")
    add("--prefix", default="EMU-", help="station ids are PREFIX0001, PREFIX0002, ... (default: %(default)s)")
    add("--station-id", default=None, help="run one station with exactly this id (instead of --stations/--prefix)")
    add("--sessions", type=_non_negative_int, default=1, help="charging sessions per station (default: %(default)s)")
    add(
        "--forever",
        action="store_true",
        help="run until stopped: with --sessions 0 charge session after session, else stay online afterwards",
    )
    add("--session-seconds", type=_non_negative_float, default=10.0, help="session length (default: %(default)s)")
    add("--power-kw", type=_positive_float, default=11.0, help="charging power in kW (default: %(default)s)")
    add(
        "--meter-interval", type=_positive_float, default=2.0, help="seconds between MeterValues (default: %(default)s)"
    )
    add(
        "--heartbeat-interval",
        type=_positive_float,
        default=None,
        help="seconds between heartbeats (default: the interval the CSMS sends on boot)",
    )
    add("--connectors", type=_positive_int, default=1, help="connectors per station (default: %(default)s)")
    add("--password", default=None, help="HTTP Basic auth password; the user name is the station id")
    add(
        "--ca-file",
        default=os.environ.get("PLATFORM_CA_FILE"),
        help="for wss:// URLs: the CA the CSMS's certificate must chain to ($PLATFORM_CA_FILE sets it)",
    )
    add("--client-cert", default=None, help="client certificate (PEM) for security profile 3; CN = station id")
    add("--client-key", default=None, help="the client certificate's private key (PEM)")
    add("--seed", type=int, default=None, help="seed for pauses and meter noise (default: random, see summary)")
    add("--ramp", type=_positive_float, default=50.0, help="stations started per second (default: %(default)s)")
    add(
        "--max-pause",
        type=_non_negative_float,
        default=5.0,
        help="longest random pause between two sessions, in seconds (default: %(default)s)",
    )
    add(
        "--call-timeout",
        type=_positive_float,
        default=30.0,
        help="seconds to wait for the CSMS to answer a call (default: %(default)s)",
    )
    add("--summary-json", type=Path, default=None, metavar="FILE", help="also write the summary as JSON to FILE")
    add(
        "--ledger",
        type=Path,
        default=None,
        metavar="FILE",
        help="append every CALL the stations send, with the reply it got, to FILE (JSON lines)",
    )
    add("--quiet", action="store_true", help="no progress line (the summary table is still printed)")
    return parser


def fleet_config_from_args(args: argparse.Namespace) -> FleetConfig:
    return FleetConfig(
        csms_url=args.url,
        stations=1 if args.station_id else args.stations,
        prefix=args.prefix,
        station_id_override=args.station_id,
        sessions=args.sessions,
        forever=args.forever,
        session_seconds=args.session_seconds,
        power_kw=args.power_kw,
        meter_interval=args.meter_interval,
        heartbeat_interval=args.heartbeat_interval,
        connectors=args.connectors,
        password=args.password,
        ca_file=args.ca_file,
        client_certificate_file=args.client_cert,
        client_key_file=args.client_key,
        seed=args.seed,
        ramp=args.ramp,
        max_pause_seconds=args.max_pause,
        call_timeout=args.call_timeout,
        ledger_path=args.ledger,
    )


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None  # the standard loop works, just slower with thousands of sockets
    return uvloop.new_event_loop


def _install_stop_signals(fleet: Fleet) -> Callable[[], None]:
    """First Ctrl-C (or SIGTERM) stops the fleet cleanly; a second one aborts at once."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def on_signal() -> None:
        if fleet.stopping and main_task is not None:
            main_task.cancel()
            return
        fleet.request_stop()
        print("\nstopping: ending open sessions (Ctrl-C again to abort)", file=sys.stderr)

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # Windows, or not the main thread (e.g. tests): KeyboardInterrupt remains
        installed.append(signum)
    def remove() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return remove


async def _run(fleet: Fleet, *, show_progress: bool) -> FleetSummary:
    remove_signal_handlers = _install_stop_signals(fleet)
    progress = asyncio.create_task(report_progress(fleet, sys.stderr)) if show_progress else None
    try:
        return await fleet.run()
    finally:
        if progress is not None:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
        remove_signal_handlers()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fleet = Fleet(fleet_config_from_args(args))
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            summary = runner.run(_run(fleet, show_progress=not args.quiet))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("aborted", file=sys.stderr)
        summary = fleet.summary()
    print(format_summary(summary))
    if args.summary_json is not None:
        args.summary_json.write_bytes(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if summary.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
