"""PostgreSQL: the asyncpg pool of a service, and the SQL migrations."""

from __future__ import annotations

from importlib import resources
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from asyncpg.pool import PoolConnectionProxy

from .logs import get_logger

log = get_logger(__name__)

# a service's pool (`web.base_app` makes it)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
# a connection of its own (`asyncpg.connect`) or one a pool lends (`pool.acquire()`): they answer alike
Connection = asyncpg.Connection | PoolConnectionProxy


def returned(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row a statement always gives (INSERT/UPDATE ... RETURNING of a row it writes, an aggregate)."""
    if row is None:
        raise RuntimeError("the statement gave no row")
    return row


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, encoded with orjson.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo on release: no pooled connection sets session state (no SET, LISTEN,
    cursor or session-level advisory lock; open transactions are still rolled back by the
    pool). asyncpg's default reset would cost a round trip on every release."""


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session, command_timeout=30
    )
    assert pool is not None
    return pool


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every migration shipped in the package, in order."""
    folder = resources.files(__package__) / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (folder / name).read_text()) for name in names]


async def migrate(dsn: str) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction; return them.

    An advisory lock serialises concurrent `chargeplane migrate` runs (several pods).
    """
    conn: Any = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock(7283001)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations(version) VALUES ($1)", version)
            applied_now.append(version)
            log.info("migration applied", version=version)
    finally:
        await conn.close()
    return applied_now
