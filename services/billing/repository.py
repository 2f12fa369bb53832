"""tariffs, station_tariffs and billing_transactions in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from chargeplane.common.db import Connection
from chargeplane.common.outbox_events import SessionStopped

from .pricing import DEFAULT_TARIFF_JSON, Bill, Tariff

BILL_COLUMNS = (
    "id, session_id, station_id, tariff_id, currency, energy_wh, charging_seconds, parking_seconds,"
    " amount_excl_tax, tax_amount, amount_incl_tax, line_items, created_at"
)


def _jsonable(row: asyncpg.Record) -> dict[str, Any]:
    return {k: (str(v) if k.startswith("amount") or k == "tax_amount" else v) for k, v in dict(row).items()}


class BillingRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def seed_default_tariff(self) -> None:
        await upsert_tariff(self._pool, Tariff.model_validate(DEFAULT_TARIFF_JSON), is_default=True,
                            overwrite=False)

    async def tariffs_for(self, station_ids: Iterable[str]) -> dict[str, Tariff]:
        """The tariff each station bills with (its own, else the default); one statement for
        all, each distinct tariff parsed once."""
        rows = await self._pool.fetch(
            "SELECT u.station_id, t.id, t.definition FROM unnest($1::text[]) AS u(station_id)"
            " LEFT JOIN LATERAL (SELECT t.id, t.definition FROM tariffs t"
            " LEFT JOIN station_tariffs s ON s.tariff_id = t.id AND s.station_id = u.station_id"
            " WHERE s.station_id IS NOT NULL OR t.is_default ORDER BY s.station_id IS NULL LIMIT 1) t ON true",
            list(set(station_ids)),
        )
        parsed: dict[str | None, Tariff] = {}
        for r in rows:
            if r["id"] not in parsed:
                parsed[r["id"]] = Tariff.model_validate(
                    DEFAULT_TARIFF_JSON if r["definition"] is None else r["definition"])
        return {r["station_id"]: parsed[r["id"]] for r in rows}

    async def save_bills(self, bills: Sequence[tuple[SessionStopped, Bill]]) -> list[tuple[dict[str, Any], bool]]:
        """Insert each session's one bill (one statement for all; one bill per session in a
        call); replace a bill only if pricing the session now gives another bill (a station's
        late StopTransaction corrected a session the platform had closed: its energy, or only
        its end, and so its time, changed). A bill for the station's own stop is final: events
        may arrive twice, and late. Returns (bill, created) per session, in order."""
        rows = await self._pool.fetch(
            "INSERT INTO billing_transactions AS b (session_id, station_id, tariff_id, currency, energy_wh,"
            " charging_seconds, parking_seconds, amount_excl_tax, tax_amount, amount_incl_tax, line_items, closed_by)"
            " SELECT s, st, t, c, e, cs, ps, ex, tx, inc, li::jsonb, cb FROM unnest($1::bigint[], $2::text[],"
            " $3::text[], $4::text[], $5::bigint[], $6::int[], $7::int[], $8::numeric[], $9::numeric[],"
            " $10::numeric[], $11::text[], $12::text[]) AS u(s, st, t, c, e, cs, ps, ex, tx, inc, li, cb)"
            " ON CONFLICT (session_id) DO UPDATE SET tariff_id = EXCLUDED.tariff_id, energy_wh = EXCLUDED.energy_wh,"
            " charging_seconds = EXCLUDED.charging_seconds, parking_seconds = EXCLUDED.parking_seconds,"
            " amount_excl_tax = EXCLUDED.amount_excl_tax, tax_amount = EXCLUDED.tax_amount,"
            " amount_incl_tax = EXCLUDED.amount_incl_tax, line_items = EXCLUDED.line_items,"
            " closed_by = EXCLUDED.closed_by"
            " WHERE b.closed_by IS DISTINCT FROM 'station'"
            " AND (b.tariff_id, b.energy_wh, b.charging_seconds, b.parking_seconds, b.amount_incl_tax)"
            " IS DISTINCT FROM (EXCLUDED.tariff_id, EXCLUDED.energy_wh, EXCLUDED.charging_seconds,"
            " EXCLUDED.parking_seconds, EXCLUDED.amount_incl_tax)"
            f" RETURNING {BILL_COLUMNS}, (xmax = 0) AS inserted",
            *(list(column) for column in zip(*(
                (session.session_id, session.station_id, bill.tariff_id, bill.currency, bill.energy_wh,
                 bill.charging_seconds, bill.parking_seconds, bill.amount_excl_tax, bill.tax_amount,
                 # line items as JSON text: asyncpg would read a list inside an array as a dimension
                 bill.amount_incl_tax, orjson.dumps(bill.to_json()["line_items"]).decode(), session.closed_by)
                for session, bill in bills), strict=True)),
        )
        written = {r["session_id"]: r for r in rows}
        if unchanged := [session.session_id for session, _ in bills if session.session_id not in written]:
            # the same sessions again: their bills stand
            written.update({r["session_id"]: r for r in await self._pool.fetch(
                f"SELECT {BILL_COLUMNS}, false AS inserted FROM billing_transactions"
                " WHERE session_id = ANY($1::bigint[])", unchanged)})
        results = []
        for session, _ in bills:
            result = _jsonable(written[session.session_id])
            results.append((result, bool(result.pop("inserted"))))
        return results

    async def bills(self, session_id: int | None, station_id: str | None, limit: int,
                    offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {BILL_COLUMNS} FROM billing_transactions WHERE ($1::bigint IS NULL OR session_id = $1)"
            " AND ($2::text IS NULL OR station_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
            session_id, station_id, limit, offset,
        )
        return [_jsonable(r) for r in rows]

    async def save_tariff(self, tariff: Tariff) -> None:
        await upsert_tariff(self._pool, tariff)

    async def tariff(self, tariff_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            "SELECT id, name, is_default, definition FROM tariffs WHERE id = $1", tariff_id
        )
        return dict(row) if row else None

    async def delete_tariff(self, tariff_id: str) -> list[str]:
        """Delete a tariff no station bills with; else return the stations that still do."""
        async with self._pool.acquire() as conn, conn.transaction():
            users = await conn.fetch(
                "SELECT station_id FROM station_tariffs WHERE tariff_id = $1 ORDER BY station_id FOR UPDATE",
                tariff_id,
            )
            if not users:
                await conn.execute("DELETE FROM tariffs WHERE id = $1 AND NOT is_default", tariff_id)
        return [r["station_id"] for r in users]

    async def assign(self, station_id: str, tariff_id: str | None) -> None:
        if tariff_id is None:
            await self._pool.execute("DELETE FROM station_tariffs WHERE station_id = $1", station_id)
        else:
            await assign_tariff(self._pool, station_id, tariff_id)

    async def tariffs(self) -> list[dict[str, Any]]:
        rows = await self._pool.fetch("SELECT id, name, is_default, definition FROM tariffs ORDER BY id")
        return [dict(r) for r in rows]


async def upsert_tariff(
    conn: asyncpg.Pool | Connection, tariff: Tariff, *, name: str = "", is_default: bool = False,
    overwrite: bool = True,
) -> None:
    conflict = (
        "DO UPDATE SET name = EXCLUDED.name, currency = EXCLUDED.currency, definition = EXCLUDED.definition,"
        " updated_at = now()" if overwrite else "DO NOTHING"
    )
    await conn.execute(
        "INSERT INTO tariffs (id, name, currency, is_default, definition) VALUES ($1, $2, $3, $4, $5)"
        f" ON CONFLICT (id) {conflict}",
        tariff.id, name, tariff.currency, is_default, tariff.model_dump(mode="json"),
    )


async def assign_tariff(conn: asyncpg.Pool | Connection, station_id: str, tariff_id: str) -> None:
    await conn.execute(
        "INSERT INTO station_tariffs (station_id, tariff_id) VALUES ($1, $2)"
        " ON CONFLICT (station_id) DO UPDATE SET tariff_id = $2, updated_at = now()",
        station_id, tariff_id,
    )


REPOSITORY = web.AppKey("billing_repository", BillingRepository)
