"""The figures as one table against the targets, the JSON of the whole run, and the plot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    target: str
    met: bool | None  # None: no target, or not measured


def _ok(value: float, limit: float, at_least: bool) -> bool | None:
    if value is None or math.isnan(value):
        return None
    return value >= limit if at_least else value <= limit


def rows(results: dict[str, Any]) -> list[Row]:
    gateway, echo, peer = results["gateway"], results["echo"], results["peer"]
    half = gateway["half_load"]
    tracing = results["tracing"]
    memory = [p for p in results["memory"] if p.get("measured")]
    largest = memory[-1] if memory else None
    storm = results["storm"]
    echo_ratio = gateway["capacity"] / echo["capacity"]
    peer_ratio = gateway["capacity"] / peer["capacity"]
    table = [
        Row("gateway throughput (validated msg/s, achieved)", f"{gateway['throughput']:,.0f}",
            "", None),
        Row("gateway throughput per core-second (capacity)", f"{gateway['capacity']:,.0f}", ">= 15,000",
            _ok(gateway["capacity"], 15_000, True)),
        Row("  gateway core busy / load generators' core busy",
            f"{gateway['cpu_share']:.0%} / {gateway['load_generator_cpu_share']:.0%}", "", None),
        Row("echo capacity (achieved, core busy)",
            f"{echo['capacity']:,.0f} ({echo['throughput']:,.0f}, {echo['cpu_share']:.0%})", "", None),
        Row("peer capacity (achieved, core busy)",
            f"{peer['capacity']:,.0f} ({peer['throughput']:,.0f}, {peer['cpu_share']:.0%})", "", None),
        Row("gateway / echo", f"{echo_ratio:.0%}", ">= 25%", _ok(echo_ratio, 0.25, True)),
        Row("gateway / peer", f"{peer_ratio:.1f}x", ">= 8x", _ok(peer_ratio, 8, True)),
        Row("load generator: echo achieved / gateway achieved",
            f"{echo['throughput'] / gateway['throughput']:.2f}x", "> 1x", _ok(echo["throughput"] /
                                                                            gateway["throughput"], 1.0, True)),
        Row(f"CALL->CALLRESULT p50 / p99 at half load ({half['offered']:,.0f}/s)",
            f"{half['call_p50_ms']:.1f} / {half['call_p99_ms']:.1f} ms", "p99 <= 5 ms",
            _ok(half["call_p99_ms"], 5, False)),
        Row("StartTransaction -> session row committed p50 / p99",
            f"{half['session_row_p50_ms']:.1f} / {half['session_row_p99_ms']:.1f} ms", "p99 <= 5 ms",
            _ok(half["session_row_p99_ms"], 5, False)),
        Row("StopTransaction -> bill committed p50 / p99",
            f"{half['bill_p50_ms']:.1f} / {half['bill_p99_ms']:.1f} ms", "p99 <= 50 ms",
            _ok(half["bill_p99_ms"], 50, False)),
    ]
    for point in results["memory"]:
        if point.get("measured"):
            if point["reason"]:  # fewer stations than asked: the target's point was not reached
                table.append(Row(f"memory per idle station at {point['measured']:,} ({point['stations']:,} asked;"
                                 f" {point['reason']})", f"{point['kb_per_station']:.1f} KB",
                                 f"<= 32 KB at {point['stations']:,}", None))
                continue
            target = point is largest
            table.append(Row(f"memory per idle station at {point['stations']:,}",
                             f"{point['kb_per_station']:.1f} KB", "<= 32 KB" if target else "",
                             _ok(point["kb_per_station"], 32, False) if target else None))
        else:
            table.append(Row(f"memory per idle station at {point['stations']:,}", "not measured",
                             point["reason"], None))
    table += [
        Row(f"reconnect storm: {storm['stations']:,} stations Accepted + status stored",
            f"{storm['seconds']:.1f} s ({storm['accepted']:,} ok, {storm['statuses_stored']:,} stored)", "<= 10 s",
            _ok(storm["seconds"], 10, False) if storm["accepted"] == storm["stations"] else False),
        Row("telemetry ingest (sampled values/s stored)", f"{gateway['telemetry']['values_per_s']:,.0f}",
            ">= 100,000", _ok(gateway["telemetry"]["values_per_s"], 100_000, True)),
    ]
    off = tracing["off"]["capacity"]
    for label in ("off", "10%", "100%"):
        cost = 1 - tracing[label]["capacity"] / off
        table.append(Row(f"capacity with tracing {label}" + ("" if label == "off" else f" (cost {cost:.0%})"),
                         f"{tracing[label]['capacity']:,.0f}/s", "", None))
    # the target's row: throughput lost at equal load, where batching is the same for all three
    cpu = {label: tracing[label]["equal_load"]["cpu_us_per_message"] for label in ("off", "10%", "100%")}
    rate = tracing["off"]["equal_load"]["offered"]
    table.append(Row(f"gateway CPU per message at {rate:,.0f}/s, tracing off / 10% / 100%",
                     " / ".join(f"{cpu[label]:.0f}" for label in ("off", "10%", "100%")) + " us", "", None))
    table.append(Row("spans exported per CALL, tracing 10% / 100%",
                     f"{tracing['10%']['spans_per_call']:.2f} / {tracing['100%']['spans_per_call']:.2f}", "", None))
    for label in ("10%", "100%"):
        cost = 1 - cpu["off"] / cpu[label]
        table.append(Row(f"throughput cost of tracing {label} at equal load", f"{cost:.0%}",
                         "<= 10%" if label == "10%" else "", _ok(cost, 0.10, False) if label == "10%" else None))
    return table


def format_table(table: list[Row]) -> str:
    width = max(len(r.figure) for r in table)
    value_width = max(len(r.value) for r in table)
    lines = [f"{'figure':<{width}}  {'value':>{value_width}}  {'target':<12} met", "-" * (width + value_width + 22)]
    for r in table:
        met = "" if r.met is None else ("yes" if r.met else "NO")
        lines.append(f"{r.figure:<{width}}  {r.value:>{value_width}}  {r.target:<12} {met}")
    return "\n".join(lines)


def markdown_table(table: list[Row]) -> str:
    lines = ["| figure | value | target | met |", "|---|---:|---|---|"]
    for r in table:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.figure} | {r.value} | {r.target} | {met} |")
    return "\n".join(lines)


def plot(results: dict[str, Any], png: Path) -> None:
    """Throughput and p99 latency against offered load, gateway beside echo and peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = {"gateway": ("tab:blue", "o"), "echo": ("tab:gray", "s"), "peer": ("tab:orange", "^")}
    for name, (colour, marker) in styles.items():
        points = results[name]["sweep"]
        offered = [p["offered"] for p in points]
        left.plot(offered, [p["throughput"] for p in points], marker=marker, color=colour, label=name)
        right.plot(offered, [p["p99_ms"] for p in points], marker=marker, color=colour, label=name)
    left.set(xlabel="offered load (CALLs/s)", ylabel="answered (CALLs/s)", title="throughput", yscale="log")
    right.set(xlabel="offered load (CALLs/s)", ylabel="p99 CALL->CALLRESULT (ms)", title="p99 latency",
              yscale="log")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle("ChargePlane gateway vs echo and peer, one core each (same run, same frames)")
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
