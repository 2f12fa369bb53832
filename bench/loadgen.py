"""A load generator process: thousands of asyncio stations, driven by JSON-line commands
on stdin, answering on stdout (`python -m chargeplane.bench.loadgen`).

Commands: `connect` (all stations connect, boot and report Available; a refused or
broken connect is retried like a station would), `run` (for `seconds`, closed loop:
each station sends its next CALL as soon as the last is answered; or open loop at
`rate` CALLs per second), `disconnect`, `quit`. Latencies are CALL sent -> reply
received, in microseconds, for every reply inside the measured window.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from .traffic import StationTraffic
from .wire import WebSocketClient, connect

RETRY_DELAY = 0.5  # seconds before a station retries a failed connect
DRAIN_TIMEOUT = 10.0


@dataclass
class Window:
    """What happened while one `run` measured."""

    sent: int = 0
    results: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies_us: list[int] = field(default_factory=list)
    starts: list[tuple[int, float]] = field(default_factory=list)  # (transactionId, wall time sent)
    stops: list[tuple[int, float]] = field(default_factory=list)
    behind: int = 0  # open loop: CALLs due while every station still waited for a reply


class BenchStation:
    __slots__ = ("action", "client", "generator", "on_ready", "payload", "sent_at", "sent_wall", "traffic",
                 "unique_id")

    def __init__(self, generator: LoadGenerator, traffic: StationTraffic) -> None:
        self.generator = generator
        self.traffic = traffic
        self.client: WebSocketClient | None = None
        self.unique_id = self.action = ""
        self.payload: dict[str, Any] = {}
        self.sent_at = self.sent_wall = 0.0
        self.on_ready: asyncio.Future[bool] | None = None

    def send(self, action: str, payload: dict[str, Any]) -> None:
        assert self.client is not None
        self.unique_id, frame = self.traffic.frame(action, payload)
        self.action, self.payload = action, payload
        self.sent_wall = time.time()
        self.sent_at = time.perf_counter()
        self.client.send(frame)
        self.generator.sent(self)

    def on_text(self, data: bytes) -> None:
        received = time.perf_counter()
        reply = orjson.loads(data)
        if reply[0] not in (3, 4) or reply[1] != self.unique_id:
            return  # a CALL from the CSMS, or a late reply: the benchmark sends no CALLs it does not await
        self.unique_id = ""
        ok = reply[0] == 3
        if ok:
            self.traffic.answered(self.action, reply[2])
        self.generator.answered(self, ok, None if ok else str(reply[2]), received)

    def on_closed(self) -> None:
        self.client = None
        self.generator.closed(self)


class LoadGenerator:
    def __init__(self, url: str, station_ids: list[str], first_index: int, source_address: str | None) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path.rstrip("/")
        self.source_address = source_address
        self.stations = [BenchStation(self, StationTraffic(sid, first_index + i)) for i, sid in enumerate(station_ids)]
        self.window: Window | None = None
        self.closed_loop = False
        self.idle: collections.deque[BenchStation] = collections.deque()
        self.in_flight = 0
        self.drained = asyncio.Event()

    # events from stations --------------------------------------------------------------------
    def sent(self, station: BenchStation) -> None:
        self.in_flight += 1
        self.drained.clear()
        if self.window is not None:
            self.window.sent += 1

    def answered(self, station: BenchStation, ok: bool, error: str | None, received: float) -> None:
        self.in_flight -= 1
        window = self.window
        if window is not None:
            if ok:
                window.results += 1
            else:
                window.errors[error or "?"] += 1
            window.latencies_us.append(int((received - station.sent_at) * 1e6))
            if ok and station.action == "StartTransaction" and station.traffic.transaction_id:
                window.starts.append((station.traffic.transaction_id, station.sent_wall))
            elif ok and station.action == "StopTransaction":
                window.stops.append((station.payload["transactionId"], station.sent_wall))
        if station.on_ready is not None:  # still booting
            self._boot_step(station, ok)
        elif self.closed_loop:
            station.send(*station.traffic.next_call())
        else:
            self.idle.append(station)
        if self.in_flight == 0:
            self.drained.set()

    def closed(self, station: BenchStation) -> None:
        if station.unique_id:
            self.in_flight -= 1
            station.unique_id = ""
        if station.on_ready is not None and not station.on_ready.done():
            station.on_ready.set_result(False)
        if self.in_flight == 0:
            self.drained.set()

    # commands ----------------------------------------------------------------------------------
    async def connect_all(self, deadline_s: float) -> dict[str, Any]:
        """Connect, boot and report Available, every station at once; retry until the deadline."""
        started = time.perf_counter()
        self.window = Window()
        deadline = started + deadline_s
        outcomes = await asyncio.gather(*(self._connect_one(s, deadline) for s in self.stations if s.client is None))
        elapsed = time.perf_counter() - started
        window, self.window = self.window, None
        return {"connected": sum(outcomes), "failed": len(outcomes) - sum(outcomes), "seconds": elapsed,
                "errors": dict(window.errors), "boot_latencies_us": window.latencies_us}

    async def _connect_one(self, station: BenchStation, deadline: float) -> bool:
        while time.perf_counter() < deadline:
            try:
                station.client = await connect(self.host, self.port, f"{self.path}/{station.traffic.station_id}",
                                               "ocpp1.6", station.on_text, station.on_closed, self.source_address)
            except (OSError, ConnectionError):
                await asyncio.sleep(RETRY_DELAY)
                continue
            station.on_ready = asyncio.get_running_loop().create_future()
            station.send(*station.traffic.boot())
            if await station.on_ready:
                station.on_ready = None
                self.idle.append(station)
                return True
            station.on_ready = None
            await asyncio.sleep(RETRY_DELAY)
        return False

    def _boot_step(self, station: BenchStation, ok: bool) -> None:
        assert station.on_ready is not None
        if not ok:
            station.on_ready.set_result(False)
            if station.client is not None:
                station.client.close()
        elif station.action == "BootNotification":
            station.send(*station.traffic.status("Available"))
        else:
            station.on_ready.set_result(True)

    async def run(self, seconds: float, rate: float | None, script: str) -> dict[str, Any]:
        for station in self.stations:
            station.traffic.use_script(script)
        self.window = window = Window()
        started = time.perf_counter()
        if rate is None:
            self.closed_loop = True
            while (idle := self._next_idle()) is not None:
                idle.send(*idle.traffic.next_call())
            await asyncio.sleep(seconds)
        else:
            await self._paced(rate, started + seconds)
        elapsed = time.perf_counter() - started
        self.closed_loop = False
        self.window = None  # replies after the window are not counted
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained.wait(), DRAIN_TIMEOUT)
        return {"seconds": elapsed, "sent": window.sent, "results": window.results, "errors": dict(window.errors),
                "latencies_us": window.latencies_us, "starts": window.starts, "stops": window.stops,
                "behind": window.behind, "cpu_seconds": _cpu_seconds()}

    async def _paced(self, rate: float, until: float) -> None:
        """Open loop: CALLs at `rate` per second, each by a station not waiting for a reply."""
        started = time.perf_counter()
        window = self.window
        assert window is not None
        due_sent = 0
        while (now := time.perf_counter()) < until:
            due = int((now - started) * rate)
            while due_sent < due:
                due_sent += 1
                if (station := self._next_idle()) is not None:
                    station.send(*station.traffic.next_call())
                else:
                    window.behind += 1
            await asyncio.sleep(0.002)

    def _next_idle(self) -> BenchStation | None:
        """A connected station not waiting for a reply (a closed one is dropped on the way)."""
        while self.idle:
            station = self.idle.popleft()
            if station.client is not None:
                return station
        return None

    async def disconnect_all(self) -> dict[str, Any]:
        for station in self.stations:
            if station.client is not None:
                station.client.close()
        for _ in range(200):
            if all(s.client is None for s in self.stations):
                break
            await asyncio.sleep(0.05)
        self.idle.clear()
        return {"disconnected": len(self.stations)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve(generator: LoadGenerator) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _answer({"ready": True, "stations": len(generator.stations)})
    while line := await reader.readline():
        command = orjson.loads(line)
        name = command.pop("command")
        if name == "connect":
            _answer(await generator.connect_all(**command))
        elif name == "run":
            _answer(await generator.run(**command))
        elif name == "disconnect":
            _answer(await generator.disconnect_all())
        elif name == "quit":
            await generator.disconnect_all()
            _answer({"ok": True})
            return


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


def main() -> None:
    import argparse

    import uvloop

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="ws://host:port/ocpp (the station id is appended)")
    parser.add_argument("--prefix", default="BENCH-")
    parser.add_argument("--first", type=int, required=True, help="number of the first station")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--source-address", help="a 127.x.y.z address to connect from")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ids = [station_id(args.prefix, n) for n in range(args.first, args.first + args.count)]
    uvloop.run(serve(LoadGenerator(args.url, ids, args.first, args.source_address)))


def station_id(prefix: str, number: int) -> str:
    """As `chargeplane station add --count` names them."""
    return f"{prefix}{number:04d}"


if __name__ == "__main__":
    main()
