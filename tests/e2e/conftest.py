"""`chargeplane up` as a user runs it: a real process tree, real ports, OTLP export."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chargeplane.embedded import free_port


@dataclass
class OtlpReceiver:
    """A local OTLP/HTTP trace receiver: (service.name, trace id, span name) of every span."""

    port: int
    spans: list[tuple[str, str, str]] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "?")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append((service, span.trace_id.hex(), span.name))
        return web.Response(content_type="application/x-protobuf", body=b"")


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    """Served from its own thread and loop: the platform exports while tests block."""
    receiver = OtlpReceiver(free_port())
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.receive)
    runner = web.AppRunner(app)

    async def serve() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", receiver.port).start()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    yield receiver
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@dataclass
class RunningPlatform:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    data_dir: Path

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-P", "-m", "chargeplane", *args], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def running_platform(tmp_path: Path, otlp: OtlpReceiver) -> Iterator[RunningPlatform]:
    while True:
        offset = random.randrange(5000, 22000, 10)  # below the ephemeral port range
        if _ports_free([8081 + offset + i for i in range(4)]):
            break
    data_dir = Path(tempfile.mkdtemp(prefix="chargeplane-e2e-"))  # see tests/conftest.py: not basetemp
    log_path = tmp_path / "up.log"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}",
           "OTEL_BSP_SCHEDULE_DELAY": "200"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "chargeplane", "up", "--data-dir", str(data_dir), "--port-offset", str(offset),
             "--postgres-port", str(free_port()), "--redis-port", str(free_port())],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    platform_env = data_dir / "platform.env"
    deadline = time.monotonic() + 120
    while not platform_env.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"chargeplane up did not come up:\n{log_path.read_text()}")
        time.sleep(0.1)
    values = dict(line.split("=", 1) for line in platform_env.read_text().splitlines())
    try:
        yield RunningPlatform(process, values, data_dir)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        assert not platform_env.exists(), "platform.env must be removed on a clean stop"
        shutil.rmtree(data_dir, ignore_errors=True)
