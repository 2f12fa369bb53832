"""The harness's side of the load generators: several processes, pinned to the harness
core, each with its own slice of stations and its own 127.x source address (so no
process runs out of ephemeral ports), driven together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from chargeplane.supervisor import python_module

from .platform import HARNESS_CORE

MAX_STATIONS_PER_PROCESS = 6500  # well below the per-process open-file limit


@dataclass
class LoadGeneratorProcess:
    process: asyncio.subprocess.Process

    async def command(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(orjson.dumps(command) + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator exited with {await self.process.wait()}")
        answer: dict[str, Any] = orjson.loads(line)
        return answer


@dataclass
class Fleet:
    generators: list[LoadGeneratorProcess] = field(default_factory=list)

    @classmethod
    async def start(cls, url: str, prefix: str, first: int, count: int, processes: int = 1) -> Fleet:
        processes = max(processes, -(-count // MAX_STATIONS_PER_PROCESS))
        fleet = cls()
        share = -(-count // processes)
        for k in range(processes):
            start, size = first + k * share, min(share, count - k * share)
            if size <= 0:
                break
            process = await asyncio.create_subprocess_exec(
                "taskset", "-c", str(HARNESS_CORE), *python_module("chargeplane.bench.loadgen"),
                "--url", url, "--prefix", prefix, "--first", str(start), "--count", str(size),
                "--source-address", f"127.0.{1 + (start // 50_000) % 200}.{1 + k}",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 28,
            )
            generator = LoadGeneratorProcess(process)
            assert process.stdout is not None
            await process.stdout.readline()  # {"ready": true}
            fleet.generators.append(generator)
        return fleet

    @property
    def pids(self) -> list[int]:
        return [g.process.pid for g in self.generators]

    async def each(self, **command: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(g.command(**command) for g in self.generators)))

    async def connect(self, deadline_s: float = 120) -> dict[str, Any]:
        answers = await self.each(command="connect", deadline_s=deadline_s)
        return {"connected": sum(a["connected"] for a in answers), "failed": sum(a["failed"] for a in answers),
                "seconds": max(a["seconds"] for a in answers)}

    async def run(self, seconds: float, rate: float | None = None, script: str = "mix") -> dict[str, Any]:
        share = None if rate is None else rate / len(self.generators)
        answers = await self.each(command="run", seconds=seconds, rate=share, script=script)
        errors: dict[str, int] = {}
        for answer in answers:
            for code, n in answer["errors"].items():
                errors[code] = errors.get(code, 0) + n
        return {
            "seconds": max(a["seconds"] for a in answers),
            "sent": sum(a["sent"] for a in answers),
            "results": sum(a["results"] for a in answers),
            "errors": errors,
            "behind": sum(a["behind"] for a in answers),
            "latencies_us": sorted(x for a in answers for x in a["latencies_us"]),
            "starts": [tuple(x) for a in answers for x in a["starts"]],
            "stops": [tuple(x) for a in answers for x in a["stops"]],
        }

    async def disconnect(self) -> None:
        await self.each(command="disconnect")

    async def quit(self) -> None:
        for generator in self.generators:
            try:
                await asyncio.wait_for(generator.command(command="quit"), 30)
            except (TimeoutError, RuntimeError, ConnectionError):
                generator.process.kill()
            await generator.process.wait()
