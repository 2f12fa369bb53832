"""api_clients, station_credentials and id_tags in PostgreSQL.

Argon2 takes milliseconds of CPU: it runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from chargeplane.common.db import Connection, returned
from chargeplane.common.timeutil import format_ocpp, utcnow

from .passwords import hash_password, verify_password

ID_TAG_COLUMNS = "id_tag, status, expires_at, parent_id_tag, updated_at"


def id_tag_info(row: asyncpg.Record | None, unknown_status: str, now: datetime) -> dict[str, Any]:
    """OCPP 1.6 IdTagInfo for a tag: its status, Expired once past its expiry."""
    if row is None:
        return {"status": unknown_status}
    info: dict[str, Any] = {"status": row["status"]}
    if row["expires_at"] is not None:
        info["expiryDate"] = format_ocpp(row["expires_at"])
        if row["expires_at"] <= now and row["status"] == "Accepted":
            info["status"] = "Expired"
    if row["parent_id_tag"]:
        info["parentIdTag"] = row["parent_id_tag"]
    return info


class AuthRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def save_client(self, client_id: str, secret: str, scopes: list[str]) -> None:
        await save_client(self._pool, client_id, secret, scopes)

    async def client_scopes(self, client_id: str, secret: str) -> list[str] | None:
        """The client's scopes when the secret is right, else None."""
        row = await self._pool.fetchrow(
            "SELECT secret_hash, scopes FROM api_clients WHERE client_id = $1 AND NOT disabled", client_id
        )
        if row is None or not await asyncio.to_thread(verify_password, row["secret_hash"], secret):
            return None
        return list(row["scopes"])

    async def set_station_password(self, station_id: str, password: str | None) -> None:
        await set_station_password(self._pool, station_id, password)

    async def check_station(self, station_id: str, password: str | None) -> tuple[bool, bool]:
        """(required, valid): a station without credentials needs none."""
        return (await self.check_stations([(station_id, password)]))[0]

    async def check_stations(self, stations: Sequence[tuple[str, str | None]]) -> list[tuple[bool, bool]]:
        """check_station for many (a gateway's reconnect storm): one query, and the
        argon2 verifications side by side in worker threads."""
        hashes: dict[str, str] = {r["station_id"]: r["password_hash"] for r in await self._pool.fetch(
            "SELECT station_id, password_hash FROM station_credentials WHERE station_id = ANY($1::text[])",
            list({station_id for station_id, _ in stations}),
        )}

        async def check(station_id: str, password: str | None) -> tuple[bool, bool]:
            password_hash = hashes.get(station_id)
            if password_hash is None:
                return False, True
            return True, password is not None and await asyncio.to_thread(verify_password, password_hash, password)

        return list(await asyncio.gather(*(check(station_id, password) for station_id, password in stations)))

    async def authorize(self, id_tag: str, unknown_status: str) -> dict[str, Any]:
        return (await self.authorize_many([id_tag], unknown_status))[0]

    async def authorize_many(self, id_tags: Sequence[str], unknown_status: str) -> list[dict[str, Any]]:
        rows = {row["id_tag"]: row for row in await self._pool.fetch(
            f"SELECT {ID_TAG_COLUMNS} FROM id_tags WHERE id_tag = ANY($1::text[])", list(set(id_tags)))}
        now = utcnow()
        return [id_tag_info(rows.get(id_tag), unknown_status, now) for id_tag in id_tags]

    async def id_tags(self, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {ID_TAG_COLUMNS} FROM id_tags ORDER BY id_tag LIMIT $1 OFFSET $2", limit, offset
        )
        return [dict(r) for r in rows]

    async def id_tag(self, id_tag: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {ID_TAG_COLUMNS} FROM id_tags WHERE id_tag = $1", id_tag)
        return dict(row) if row else None

    async def save_id_tag(self, id_tag: str, status: str, expires_at: datetime | None,
                          parent_id_tag: str | None) -> dict[str, Any]:
        row = await self._pool.fetchrow(
            "INSERT INTO id_tags (id_tag, status, expires_at, parent_id_tag) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (id_tag) DO UPDATE SET status = $2, expires_at = $3, parent_id_tag = $4,"
            f" updated_at = now() RETURNING {ID_TAG_COLUMNS}",
            id_tag, status, expires_at, parent_id_tag,
        )
        return dict(returned(row))

    async def delete_id_tag(self, id_tag: str) -> bool:
        return await self._pool.execute("DELETE FROM id_tags WHERE id_tag = $1", id_tag) == "DELETE 1"

    async def local_list(self, since: int | None) -> dict[str, Any]:
        """The id tags as an OCPP local authorization list at its current version: all of them,
        or (`since` a version) the tags changed after it, a deleted tag without idTagInfo."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            version = await _list_version(conn)
            full = since is None or since > version
            rows = await conn.fetch(
                f"SELECT {ID_TAG_COLUMNS} FROM id_tags WHERE list_version > $1 ORDER BY id_tag", -1 if full else since
            )
            removed = [] if full else await conn.fetch(
                "SELECT id_tag FROM id_tag_tombstones WHERE list_version > $1 ORDER BY id_tag", since
            )
        now = utcnow()
        entries = [{"idTag": r["id_tag"], "idTagInfo": id_tag_info(r, "Invalid", now)} for r in rows]
        entries += [{"idTag": r["id_tag"]} for r in removed]
        return {"list_version": version, "update_type": "Full" if full else "Differential",
                "local_authorization_list": entries}

    async def list_version(self) -> int:
        return await _list_version(self._pool)


async def _list_version(conn: asyncpg.Pool | Connection) -> int:
    """The local list's version: that of the latest change to the id tags (0: never changed)."""
    version: int = await conn.fetchval(
        "SELECT greatest((SELECT max(list_version) FROM id_tags), (SELECT max(list_version) FROM id_tag_tombstones), 0)"
    )
    return version


async def save_client(conn: asyncpg.Pool | Connection, client_id: str, secret: str,
                      scopes: list[str]) -> None:
    await conn.execute(
        "INSERT INTO api_clients (client_id, secret_hash, scopes) VALUES ($1, $2, $3)"
        " ON CONFLICT (client_id) DO UPDATE SET secret_hash = $2, scopes = $3, disabled = false",
        client_id, await asyncio.to_thread(hash_password, secret), scopes,
    )


async def set_station_password(conn: asyncpg.Pool | Connection, station_id: str,
                               password: str | None) -> None:
    if password is None:
        await conn.execute("DELETE FROM station_credentials WHERE station_id = $1", station_id)
        return
    await conn.execute(
        "INSERT INTO station_credentials (station_id, password_hash) VALUES ($1, $2)"
        " ON CONFLICT (station_id) DO UPDATE SET password_hash = $2, updated_at = now()",
        station_id, await asyncio.to_thread(hash_password, password),
    )


REPOSITORY = web.AppKey("auth_repository", AuthRepository)
