"""Seeded faults against a running `chargeplane up`: SIGKILLed services, PostgreSQL crashed
and restarted, Redis crashed and restarted empty, and the network between services
blackholed, slowed or reset (through `tcp_proxy`). The same seed plans the same faults."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from random import Random

from chargeplane.embedded import EmbeddedPostgres, EmbeddedRedis

from .tcp_proxy import Mode, ProxyNetwork


class FaultKind(StrEnum):
    KILL = "SIGKILL a service"
    POSTGRES = "PostgreSQL crash + restart"
    REDIS = "Redis crash + restart empty"
    BLACKHOLE = "network blackhole"
    DELAY = "network delay"
    RESET = "connection reset"


PROXY_MODES = {FaultKind.BLACKHOLE: Mode.BLACKHOLE, FaultKind.DELAY: Mode.DELAY, FaultKind.RESET: Mode.RESET}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    # a service, a proxied link, "postgresql" or "redis"
    target: str
    # how long the fault lasts before it is healed (a killed service heals itself)
    hold_s: float = 0.0
    latency_s: float = 0.0

    def __str__(self) -> str:
        latency = f", +{self.latency_s:.2f} s a chunk" if self.kind is FaultKind.DELAY else ""
        return f"{self.kind}: {self.target} ({self.hold_s:.1f} s{latency})"


def _cycle(rng: Random, items: Sequence[str]) -> Iterator[str]:
    """Every item once, in a shuffled order, then again: each target gets its turn."""
    while True:
        order = list(items)
        rng.shuffle(order)
        yield from order


def plan_faults(seed: int, count: int, services: Sequence[str], links: Sequence[str]) -> list[Fault]:
    """`count` faults, the kinds in shuffled rounds so a short run has a few of each."""
    rng = Random(seed)
    next_service, next_link = _cycle(rng, services), _cycle(rng, links)
    plan: list[Fault] = []
    while len(plan) < count:
        kinds = list(FaultKind)
        rng.shuffle(kinds)
        for kind in kinds:
            if kind is FaultKind.KILL:
                plan.append(Fault(kind, next(next_service)))
            elif kind is FaultKind.POSTGRES:
                plan.append(Fault(kind, "postgresql", rng.uniform(0.5, 3.0)))
            elif kind is FaultKind.REDIS:
                plan.append(Fault(kind, "redis", rng.uniform(0.5, 2.0)))
            elif kind is FaultKind.DELAY:
                plan.append(Fault(kind, next(next_link), rng.uniform(1.0, 4.0), rng.uniform(0.05, 1.0)))
            else:
                # a blackhole may outlast the callers' 5 s request timeout, or not
                hold = rng.uniform(1.0, 7.0) if kind is FaultKind.BLACKHOLE else rng.uniform(0.5, 2.0)
                plan.append(Fault(kind, next(next_link), hold))
    return plan[:count]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class FaultInjector:
    pid_dir: Path
    service_urls: dict[str, str]
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    network: ProxyNetwork

    def inject(self, fault: Fault) -> None:
        """Cause the fault, hold it, heal it; returns once it is healed (not yet recovered from)."""
        if fault.kind is FaultKind.KILL:
            self._kill(fault.target)
        elif fault.kind is FaultKind.POSTGRES:
            self.postgres.kill()
            time.sleep(fault.hold_s)
            self.postgres.start()
        elif fault.kind is FaultKind.REDIS:
            self.redis.kill()
            time.sleep(fault.hold_s)
            self.redis.start()
        else:
            self.network.set_mode(fault.target, PROXY_MODES[fault.kind], fault.latency_s)
            time.sleep(fault.hold_s)
            self.network.set_mode(fault.target, Mode.PASS)

    def _kill(self, service: str, within_s: float = 60.0) -> None:
        pid_file = self.pid_dir / f"{service}.pid"
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + within_s
        while int(pid_file.read_text() or pid) == pid:  # the supervisor writes the new one
            if time.monotonic() > deadline:
                raise AssertionError(f"{service} was not restarted within {within_s:.0f} s of its SIGKILL")
            time.sleep(0.05)

    def wait_recovered(self, within_s: float = 90.0) -> float:
        """Seconds until every service is ready again."""
        started = time.monotonic()
        waiting = dict(self.service_urls)
        while waiting:
            waiting = {name: url for name, url in waiting.items() if not _ready(url)}
            if time.monotonic() - started > within_s:
                raise AssertionError(f"not ready {within_s:.0f} s after the fault: {sorted(waiting)}")
            if waiting:
                time.sleep(0.1)
        return time.monotonic() - started
