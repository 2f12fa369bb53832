"""The four services in this process on real loopback sockets, over the test session's
PostgreSQL and Redis: integration tests drive them with real OCPP frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chargeplane.common.settings import ServiceSettings
from chargeplane.common.tracing import setup_tracing
from chargeplane.embedded import free_port
from chargeplane.services.billing.app import create_app as billing_app
from chargeplane.services.billing.settings import BillingSettings
from chargeplane.services.ocpp.app import create_app as ocpp_app
from chargeplane.services.ocpp.settings import OcppSettings
from chargeplane.services.sessions.app import create_app as sessions_app
from chargeplane.services.sessions.settings import SessionsSettings
from chargeplane.services.telemetry.app import create_app as telemetry_app
from chargeplane.services.telemetry.settings import TelemetrySettings


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span the in-process services make, kept in memory."""
    exporter = InMemorySpanExporter()
    setup_tracing(ServiceSettings(service_name="chargeplane-tests"), SimpleSpanProcessor(exporter))
    return exporter


APP_FACTORIES = {
    "telemetry": (telemetry_app, TelemetrySettings),
    "billing": (billing_app, BillingSettings),
    "sessions": (sessions_app, SessionsSettings),
    "ocpp": (ocpp_app, OcppSettings),
}


@dataclass
class Platform:
    """The running services; `stop`/`start` one to play a downstream outage."""

    ports: dict[str, int]
    settings: dict[str, dict[str, object]]
    db: asyncpg.Pool
    host: str = "127.0.0.1"
    runners: dict[str, web.AppRunner] = field(default_factory=dict)

    @property
    def ocpp_url(self) -> str:
        return f"ws://{self.host}:{self.ports['ocpp']}/ocpp"

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    async def start(self, name: str) -> None:
        factory, settings_class = APP_FACTORIES[name]
        runner = web.AppRunner(factory(settings_class(**self.settings[name])), shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.ports[name]).start()
        self.runners[name] = runner

    async def stop(self, name: str) -> None:
        await self.runners.pop(name).cleanup()

    async def outbox_drained(self, within_s: float = 10.0) -> None:
        """Wait until every service delivered its outbox events."""
        deadline = asyncio.get_running_loop().time() + within_s
        while await self.db.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NULL"):
            if asyncio.get_running_loop().time() > deadline:
                rows = await self.db.fetch("SELECT source, destination, path, attempts, last_error FROM outbox")
                raise AssertionError(f"outbox not drained: {[dict(r) for r in rows]}")
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_platform(db: asyncpg.Pool, database_url: str, redis_url: str, ports: dict[str, int],
                           host: str = "127.0.0.1") -> AsyncIterator[Platform]:
    common = {
        "database_url": database_url, "redis_url": redis_url, "outbox_retry_min": 0.05,
        "outbox_retry_max": 0.5, "sessions_url": f"http://{host}:{ports['sessions']}",
        "billing_url": f"http://{host}:{ports['billing']}",
        "telemetry_url": f"http://{host}:{ports['telemetry']}",
    }
    settings = {name: {**common, "port": port} for name, port in ports.items()}
    settings["ocpp"]["frame_log_flush_interval"] = 0.05
    platform = Platform(ports, settings, db, host)
    try:
        for name in APP_FACTORIES:
            await platform.start(name)
        yield platform
    finally:
        for name in reversed(list(platform.runners)):
            await platform.stop(name)


@pytest.fixture
async def platform(db: asyncpg.Pool, redis: object, database_url: str, redis_url: str,
                   spans: InMemorySpanExporter) -> AsyncIterator[Platform]:
    ports = {name: free_port() for name in APP_FACTORIES}
    async with running_platform(db, database_url, redis_url, ports) as platform:
        spans.clear()
        yield platform


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
