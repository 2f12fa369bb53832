"""telemetry_data and its energy rollups in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from prometheus_client import Counter

from chargeplane.common.outbox_events import MeterValues

ENERGY_REGISTER = "Energy.Active.Import.Register"
SAMPLED_VALUES_STORED = Counter("chargeplane_telemetry_sampled_values_stored_total",
                                "Sampled meter values stored in telemetry_data (redeliveries not counted)")


class InvalidSample(ValueError):
    pass


def rows_of(batch: MeterValues) -> list[dict[str, Any]]:
    """The batch's sampled values as `telemetry_data` rows (value in its canonical decimal text)."""
    rows = []
    for meter_value in batch["meter_value"]:
        for sample in meter_value["sampledValue"]:
            if sample.get("format") == "SignedData":
                continue  # a signed blob is not a number; the frame log keeps it
            measurand = sample.get("measurand", ENERGY_REGISTER)  # OCPP 1.6's default
            try:
                value = Decimal(sample["value"])
            except InvalidOperation as exc:
                raise InvalidSample(f"sampled value {sample['value']!r} ({measurand}) is not a number") from exc
            if not value.is_finite():
                raise InvalidSample(f"sampled value {sample['value']!r} ({measurand}) is not finite")
            rows.append({"station_id": batch["station_id"], "connector_id": batch["connector_id"],
                         "session_id": batch.get("transaction_id"), "measured_at": meter_value["timestamp"],
                         "measurand": measurand, "unit": sample.get("unit"), "phase": sample.get("phase"),
                         "location": sample.get("location"), "context": sample.get("context"), "value": str(value)})
    return rows


class TelemetryRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store every sampled value (`rows_of`) once, in one statement; a redelivered batch
        inserts nothing. The rows travel as one JSON document: encoding ten typed arrays cost
        asyncpg more per value than PostgreSQL spends storing it."""
        if not rows:
            return 0
        result = await self._pool.execute(
            "INSERT INTO telemetry_data (station_id, connector_id, session_id, measured_at, measurand, unit,"
            " phase, location, context, value)"
            " SELECT * FROM json_to_recordset($1::json) AS r(station_id text, connector_id int, session_id bigint,"
            " measured_at timestamptz, measurand text, unit text, phase text, location text, context text,"
            " value numeric)"
            " ON CONFLICT DO NOTHING",
            orjson.dumps(rows).decode(),
        )
        stored = int(result.split()[-1])
        SAMPLED_VALUES_STORED.inc(stored)
        return stored

    async def energy_series(self, session_ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
        """Each session's energy register readings, oldest first; one statement for any number
        of sessions (a session without readings is absent). The measurand is spelled out so that
        the partial index of energy readings (telemetry_data_session_energy) serves it."""
        rows = await self._pool.fetch(
            "SELECT session_id, measured_at, CASE WHEN unit = 'kWh' THEN value * 1000 ELSE value END AS energy_wh"
            f" FROM telemetry_data WHERE session_id = ANY($1::bigint[]) AND measurand = '{ENERGY_REGISTER}'"
            " ORDER BY session_id, measured_at",
            list(session_ids),
        )
        series: dict[int, list[dict[str, str]]] = {}
        for r in rows:
            series.setdefault(r["session_id"], []).append(
                {"at": r["measured_at"].isoformat(), "energy_wh": str(r["energy_wh"])})
        return series

    async def refresh_rollups(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY energy_by_session")
            await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY energy_by_station_day")


REPOSITORY = web.AppKey("telemetry_repository", TelemetryRepository)
