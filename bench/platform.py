"""The platform under test, started the way `chargeplane up` starts it, except that the
gateway (and each reference) runs pinned to its own core with `taskset`.

Core 0 belongs to the process under test; everything else (PostgreSQL, Redis, sessions,
billing, telemetry, the load generators, this harness) is pinned to core 1, so the
figure of the process under test is what one core does.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from chargeplane.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from chargeplane.supervisor import SupervisedProcess, python_module, service_environment, start_services, wait_ready

UNDER_TEST_CORE = 0
HARNESS_CORE = 1
DOWNSTREAM = ("auth", "telemetry", "billing", "sessions")
DOWNSTREAM_NICENESS = 10
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_fd_limit() -> int:
    """Raise this process's (and so its children's) open-file limit to the hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


@dataclass
class Pinned:
    """A process pinned to the core under test: the gateway, echo or peer."""

    name: str
    port: int
    process: SupervisedProcess

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def stop(self) -> None:
        self.process.stop()


@dataclass
class BenchPlatform:
    data_dir: Path
    database_url: str = ""
    redis_url: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    downstream: list[SupervisedProcess] = field(default_factory=list)
    _postgres: EmbeddedPostgres | None = None
    _redis: EmbeddedRedis | None = None

    def start(self, database_url: str | None, redis_url: str | None) -> None:
        """PostgreSQL (durable: fsync and synchronous commit on, as in production), Redis,
        migrations, and the downstream services."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if database_url:
            self.database_url = database_url
        else:
            # commit timestamps let the harness time "StartTransaction -> row committed"
            self._postgres = EmbeddedPostgres(self.data_dir / "postgres", free_port(),
                                              settings=("track_commit_timestamp=on",))
            self.database_url = self._postgres.start()
        if redis_url:
            self.redis_url = redis_url
        else:
            self._redis = EmbeddedRedis(self.data_dir / "redis", free_port())
            self.redis_url = self._redis.start()
        self.cli("migrate")
        # the services' HTTP APIs (the gateway's internal one), and where stations reach the gateway
        self.ports = {name: free_port() for name in (*DOWNSTREAM, "ocpp", "ocpp_station")}
        downstream_ports = {name: self.ports[name] for name in DOWNSTREAM}
        self.downstream = start_services(downstream_ports, self.database_url, self.redis_url, self.data_dir,
                                         {"LOG_LEVEL": "WARNING", "OTEL_SDK_DISABLED": "true"})
        # In production they run on other nodes; here they share the harness core with the
        # load generators and PostgreSQL, and their work (behind the outbox) may lag.
        for service in self.downstream:
            assert service.process is not None
            os.setpriority(os.PRIO_PROCESS, service.process.pid, DOWNSTREAM_NICENESS)

    def cli(self, *args: str) -> None:
        subprocess.run(python_module("chargeplane", *args, "--database-url", self.database_url), check=True,
                       capture_output=True, env={**os.environ, "LOG_LEVEL": "WARNING"})

    def register_stations(self, prefix: str, count: int) -> None:
        self.cli("station", "add", "--count", str(count), "--prefix", prefix, "--heartbeat-interval", "300")

    def start_gateway(self, tracing: Mapping[str, str], python: str | None = None) -> Pinned:
        """This tree's gateway; or, given another installation's `python` (`make bench-ab`), that
        one's, on the same platform and ports. An older gateway may serve no internal port of its
        own: it is ready when its station port listens, which it opens after its start-up."""
        api = {name: port for name, port in self.ports.items() if name != "ocpp_station"}
        env = service_environment("ocpp", self.ports["ocpp_station"], api, self.database_url, self.redis_url,
                                  {**os.environ, "LOG_LEVEL": "WARNING", **tracing},
                                  {"INTERNAL_PORT": str(self.ports["ocpp"])})
        if python is None:
            return self._start_pinned("ocpp", self.ports["ocpp_station"], python_module("chargeplane.services.ocpp"),
                                      env, ready_url=f"http://127.0.0.1:{self.ports['ocpp']}")
        return self._start_pinned("ocpp", self.ports["ocpp_station"], [python, "-P", "-m", "chargeplane.services.ocpp"],
                                  env, ready_url=None)

    def start_reference(self, kind: str) -> Pinned:
        port = free_port()
        argv = python_module("chargeplane.bench.references", kind, "--port", str(port))
        return self._start_pinned(kind, port, argv, dict(os.environ), ready_url=None)

    def _start_pinned(self, name: str, port: int, argv: list[str], env: dict[str, str],
                      ready_url: str | None) -> Pinned:
        """`port`: where its stations connect; `ready_url`: where it says it is ready (/readyz)."""
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        process = SupervisedProcess(name, ["taskset", "-c", str(UNDER_TEST_CORE), *argv], env,
                                    self.data_dir / "logs" / f"{name}.log")
        process.start()
        if ready_url:
            wait_ready(ready_url, 60, process)
        else:
            _wait_listening(port, process)
        return Pinned(name, port, process)

    async def outbox_depth(self) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NULL"))
        finally:
            await conn.close()

    def stop(self) -> None:
        for process in reversed(self.downstream):
            process.stop()
        if self._redis is not None:
            self._redis.stop()
        if self._postgres is not None:
            self._postgres.stop()


def _wait_listening(port: int, process: SupervisedProcess, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.exited() is not None:
            raise RuntimeError(f"{process.name} exited; see {process.log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{process.name} is not listening on {port}")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A service's `/metrics`, as (name, sorted labels) -> value."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_sum(samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of a metric over the series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, series), value in samples.items() if sample == name and wanted <= set(series))


@dataclass
class SpanSink:
    url: str
    spans: int = 0  # received so far: what the gateway exported, not what its exporter dropped


@contextlib.asynccontextmanager
async def otlp_sink() -> AsyncIterator[SpanSink]:
    """An OTLP/HTTP endpoint that counts the spans it takes and drops them: the gateway pays
    for making and exporting its spans, as in production, and nothing else."""

    async def accept(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        sink.spans += sum(len(scope.spans) for resource in export.resource_spans for scope in resource.scope_spans)
        return web.Response(content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/v1/traces", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sink = SpanSink(f"http://127.0.0.1:{port}")
    try:
        yield sink
    finally:
        await runner.cleanup()
