"""Terminal output of the CLI: a one-line progress report and the final summary table."""

from __future__ import annotations

import asyncio
from typing import TextIO

from .fleet import Fleet, FleetProgress, FleetSummary


def format_progress(progress: FleetProgress) -> str:
    return (
        f"{progress.elapsed_seconds:7.1f} s | online {progress.stations_online}/{progress.stations_requested}"
        f" | sessions active {progress.sessions_active},"
        f" completed {progress.sessions_completed}/{progress.sessions_requested}"
        f" | {progress.energy_wh / 1000:.3f} kWh"
    )


def _format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={count}" for name, count in counts.items()) or "none"


def format_summary(summary: FleetSummary) -> str:
    rows = [
        ("stations connected", f"{summary.stations_connected} / {summary.stations_requested}"),
        ("boots accepted", str(summary.boots_accepted)),
        ("sessions started", str(summary.sessions_started)),
        ("sessions completed", f"{summary.sessions_completed} / {summary.sessions_requested}"),
        ("energy delivered", f"{summary.energy_wh / 1000:.3f} kWh"),
        ("messages sent", str(summary.messages_sent)),
        ("messages received", str(summary.messages_received)),
        ("call errors", _format_counts(summary.call_errors)),
        ("failures", _format_counts(summary.failures)),
        ("duration", f"{summary.duration_seconds:.1f} s"),
        ("seed", str(summary.seed)),
        ("result", "OK" if summary.succeeded else "INTERRUPTED" if summary.interrupted else "FAILED"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["ChargePlane emulator summary", *(f"  {label:<{width}}  {value}" for label, value in rows)]
    return "\n".join(lines)


async def report_progress(fleet: Fleet, stream: TextIO, interval: float = 1.0) -> None:
    """Print the fleet's progress every `interval` seconds until cancelled: rewritten in place
    on a terminal, one line each time otherwise (logs and CI output stay readable)."""
    on_terminal = stream.isatty()
    previous_width = 0
    try:
        while True:
            await asyncio.sleep(interval)
            line = format_progress(fleet.progress())
            if on_terminal:
                # Pad over the remains of a longer previous line.
                stream.write("\r" + line.ljust(previous_width))
                previous_width = len(line)
            else:
                stream.write(line + "\n")
            stream.flush()
    finally:
        if on_terminal and previous_width:
            stream.write("\n")
            stream.flush()
