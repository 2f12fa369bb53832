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
from chargeplane.services.api_gateway.app import create_app as api_gateway_app
from chargeplane.services.api_gateway.settings import ApiGatewaySettings
from chargeplane.services.auth.app import create_app as auth_app
from chargeplane.services.auth.settings import AuthSettings
from chargeplane.services.billing.app import create_app as billing_app
from chargeplane.services.billing.settings import BillingSettings
from chargeplane.services.ocpp.app import create_app as ocpp_app
from chargeplane.services.ocpp.core.listeners import STATION_LISTENERS
from chargeplane.services.ocpp.settings import OcppSettings
from chargeplane.services.sessions.app import create_app as sessions_app
from chargeplane.services.sessions.settings import SessionsSettings
from chargeplane.services.telemetry.app import create_app as telemetry_app
from chargeplane.services.telemetry.settings import TelemetrySettings
from support.waiting import finished_within


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span the in-process services make, kept in memory."""
    exporter = InMemorySpanExporter()
    setup_tracing(ServiceSettings(service_name="chargeplane-tests"), SimpleSpanProcessor(exporter))
    return exporter


APP_FACTORIES = {
    "auth": (auth_app, AuthSettings),
    "telemetry": (telemetry_app, TelemetrySettings),
    "billing": (billing_app, BillingSettings),
    "sessions": (sessions_app, SessionsSettings),
    "ocpp": (ocpp_app, OcppSettings),
    "api_gateway": (api_gateway_app, ApiGatewaySettings),
}


STOP_WITHIN_S = 30.0


@dataclass
class Platform:
    """The running services; `stop`/`start` one to play a downstream outage.

    Services bind port 0 and keep the port the kernel gave them (a restart rebinds it), so
    no other process on the machine can take a port between choosing and binding it.
    Services start after the ones they call, whose URLs are known by then. The gateway's port
    (`ports["ocpp"]`) is its internal API's, like every other service's; stations connect to
    its station listener (`ports["ocpp_station"]`).
    """

    database_url: str
    redis_url: str
    db: asyncpg.Pool
    ports: dict[str, int] = field(default_factory=dict)
    host: str = "127.0.0.1"
    runners: dict[str, web.AppRunner] = field(default_factory=dict)
    # service -> settings that differ from the defaults here (e.g. the gateway's TLS files)
    overrides: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def ocpp_url(self) -> str:
        return f"ws://{self.host}:{self.ports['ocpp_station']}/ocpp"

    @property
    def station_url(self) -> str:
        """The gateway's station listener over HTTP (uploads, /healthz)."""
        return f"http://{self.host}:{self.ports['ocpp_station']}"

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    def settings_for(self, name: str) -> dict[str, object]:
        urls = {f"{service}_url": self.url(service) for service in self.ports
                if service not in ("ocpp", "ocpp_station", "api_gateway")}
        if "ocpp" in self.ports:
            urls["ocpp_http_url"] = self.url("ocpp")
        settings: dict[str, object] = {
            "database_url": self.database_url, "redis_url": self.redis_url, "outbox_retry_min": 0.05,
            "outbox_retry_max": 0.5, "port": self.ports.get(name, 0), **urls,
        }
        if name == "ocpp":
            settings["frame_log_flush_interval"] = 0.05
            # its station listeners: started by the app, where stations reach this platform
            settings["host"], settings["port"] = self.host, self.ports.get("ocpp_station", 0)
        return {**settings, **self.overrides.get(name, {})}

    async def start(self, name: str) -> None:
        factory, settings_class = APP_FACTORIES[name]
        runner = web.AppRunner(factory(settings_class(**self.settings_for(name))), shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.ports.get(name, 0))
        await site.start()
        self.ports[name] = runner.addresses[0][1]
        self.runners[name] = runner
        if name == "ocpp":
            self.ports["ocpp_station"] = runner.app[STATION_LISTENERS].port

    async def stop(self, name: str) -> None:
        runner = self.runners.pop(name)
        # A hang here once stalled a whole test run: name the service and every task still waiting.
        if not await finished_within(runner.cleanup(), STOP_WITHIN_S, f"stopping {name}"):
            raise AssertionError(f"{name} did not stop within {STOP_WITHIN_S} s (task stacks printed above)")

    async def outbox_drained(self, within_s: float = 10.0) -> None:
        """Wait until every service delivered its outbox events."""
        deadline = asyncio.get_running_loop().time() + within_s
        while await self.db.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NULL"):
            if asyncio.get_running_loop().time() > deadline:
                rows = await self.db.fetch("SELECT source, destination, path, attempts, last_error FROM outbox")
                raise AssertionError(f"outbox not drained: {[dict(r) for r in rows]}")
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_platform(db: asyncpg.Pool, database_url: str, redis_url: str, ports: dict[str, int] | None = None,
                           host: str = "127.0.0.1",
                           overrides: dict[str, dict[str, object]] | None = None) -> AsyncIterator[Platform]:
    """The services on `host`; those named in `ports` on those ports, the others where the kernel says."""
    platform = Platform(database_url, redis_url, db, dict(ports or {}), host=host, overrides=dict(overrides or {}))
    try:
        for name in APP_FACTORIES:  # in dependency order
            await platform.start(name)
        yield platform
    finally:
        for name in reversed(list(platform.runners)):
            await platform.stop(name)


@pytest.fixture
async def platform(db: asyncpg.Pool, redis: object, database_url: str, redis_url: str,
                   spans: InMemorySpanExporter) -> AsyncIterator[Platform]:
    async with running_platform(db, database_url, redis_url) as platform:
        spans.clear()
        yield platform


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
