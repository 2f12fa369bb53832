"""`chargeplane up` as a user runs it: a real process tree, real ports, OTLP export."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chargeplane.embedded import free_port
from support.display import DisplayUnavailable, virtual_display
from support.platform import RunningPlatform
from support.platform import running_platform as running_platform_process


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


@pytest.fixture
def running_platform(tmp_path: Path, otlp: OtlpReceiver) -> Iterator[RunningPlatform]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with running_platform_process(tmp_path / "up.log", env) as platform:
        yield platform


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """An X display for the desktop emulator's window (Xvfb, installed when missing)."""
    with contextlib.ExitStack() as stack:
        try:
            name = stack.enter_context(virtual_display())
        except DisplayUnavailable as exc:
            pytest.skip(f"no virtual display for the window test: {exc}")
        yield name
