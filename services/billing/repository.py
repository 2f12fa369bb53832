"""tariffs, station_tariffs and billing_transactions in PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg

from .models import SessionStopped
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

    async def tariff_for(self, station_id: str) -> Tariff:
        definition = await self._pool.fetchval(
            "SELECT t.definition FROM tariffs t LEFT JOIN station_tariffs s ON s.tariff_id = t.id"
            " AND s.station_id = $1 WHERE s.station_id IS NOT NULL OR t.is_default"
            " ORDER BY s.station_id IS NULL LIMIT 1",
            station_id,
        )
        if definition is None:
            return Tariff.model_validate(DEFAULT_TARIFF_JSON)
        return Tariff.model_validate(definition)

    async def save_bill(self, session: SessionStopped, bill: Bill) -> tuple[dict[str, Any], bool]:
        """Insert the session's one bill; replace it only if pricing the session now gives
        another bill (a station's late StopTransaction corrected a session the platform had
        closed: its energy, or only its end, and so its time, changed). A bill for the
        station's own stop is final: events may arrive twice, and late."""
        row = await self._pool.fetchrow(
            "INSERT INTO billing_transactions AS b (session_id, station_id, tariff_id, currency, energy_wh,"
            " charging_seconds, parking_seconds, amount_excl_tax, tax_amount, amount_incl_tax, line_items, closed_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
            session.session_id, session.station_id, bill.tariff_id, bill.currency, bill.energy_wh,
            bill.charging_seconds, bill.parking_seconds, bill.amount_excl_tax, bill.tax_amount,
            bill.amount_incl_tax, bill.to_json()["line_items"], session.closed_by,
        )
        if row is None:  # the same session again: its bill stands
            existing = await self._pool.fetchrow(
                f"SELECT {BILL_COLUMNS} FROM billing_transactions WHERE session_id = $1", session.session_id
            )
            return _jsonable(existing), False
        result = _jsonable(row)
        result.pop("inserted")
        return result, bool(row["inserted"])

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
    conn: asyncpg.Pool | asyncpg.Connection, tariff: Tariff, *, name: str = "", is_default: bool = False,
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


async def assign_tariff(conn: asyncpg.Pool | asyncpg.Connection, station_id: str, tariff_id: str) -> None:
    await conn.execute(
        "INSERT INTO station_tariffs (station_id, tariff_id) VALUES ($1, $2)"
        " ON CONFLICT (station_id) DO UPDATE SET tariff_id = $2, updated_at = now()",
        station_id, tariff_id,
    )
