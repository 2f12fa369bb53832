"""The chaos suite's judge (`support.invariants`) must see every kind of damage, or a run
that lost or doubled things would pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from chargeplane.services.billing.pricing import MeterSample, SessionUsage, Tariff, price_session
from chargeplane.services.billing.repository import upsert_tariff
from support.invariants import check_invariants, station_truth

STATION = "JUDGE-1"
T0 = datetime(2026, 1, 1, 10, tzinfo=UTC)
TARIFF = Tariff.model_validate({"id": "judge", "currency": "EUR", "tax_rate": "0.19", "elements": [
    {"price_components": [{"type": "ENERGY", "price": "30"}, {"type": "TIME", "price": "360"},
                          {"type": "PARKING_TIME", "price": "180"}]}]})


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sample(wh: int, at: datetime, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {"timestamp": z(at), "sampledValue": [{"value": str(wh), "context": context, "unit": "Wh",
                                                  "measurand": "Energy.Active.Import.Register"}]}


LEDGER = [
    {"station": STATION, "action": "StartTransaction", "result": {"transactionId": 1},
     "payload": {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": z(T0)}},
    {"station": STATION, "action": "MeterValues", "result": {},
     "payload": {"connectorId": 1, "transactionId": 1, "meterValue": [sample(50, T0 + timedelta(seconds=5))]}},
    {"station": STATION, "action": "MeterValues", "no_reply": "timeout",  # may or may not be stored
     "payload": {"connectorId": 1, "transactionId": 1, "meterValue": [sample(50, T0 + timedelta(seconds=8))]}},
    {"station": STATION, "action": "StopTransaction", "result": {},
     "payload": {"transactionId": 1, "meterStop": 100, "timestamp": z(T0 + timedelta(seconds=10)),
                 "transactionData": [sample(100, T0 + timedelta(seconds=10), "Transaction.End")]}},
]


async def record_what_the_stations_were_promised(db: asyncpg.Pool) -> None:
    await upsert_tariff(db, TARIFF)
    stopped_at = T0 + timedelta(seconds=10)
    await db.execute(
        "INSERT INTO charging_sessions (id, station_id, connector_id, status, meter_start_wh, meter_stop_wh,"
        " started_at, stopped_at, closed_by) VALUES (1, $1, 1, 'completed', 0, 100, $2, $3, 'station')",
        STATION, T0, stopped_at)
    readings = [(50, T0 + timedelta(seconds=5), "Sample.Periodic"), (50, T0 + timedelta(seconds=8), "Sample.Periodic"),
                (100, stopped_at, "Transaction.End")]
    await db.executemany(
        "INSERT INTO telemetry_data (station_id, connector_id, session_id, measured_at, measurand, unit, location,"
        " context, value) VALUES ($1, 1, 1, $2, 'Energy.Active.Import.Register', 'Wh', NULL, $3, $4)",
        [(STATION, at, context, wh) for wh, at, context in readings])
    bill = price_session(TARIFF, SessionUsage(T0, stopped_at, 0, 100,
                                              [MeterSample(at, Decimal(wh)) for wh, at, _ in readings]))
    await db.execute(
        "INSERT INTO billing_transactions (session_id, station_id, tariff_id, currency, energy_wh, charging_seconds,"
        " parking_seconds, amount_excl_tax, tax_amount, amount_incl_tax, line_items)"
        " VALUES (1, $1, 'judge', 'EUR', $2, $3, $4, $5, $6, $7, '[]')",
        STATION, bill.energy_wh, bill.charging_seconds, bill.parking_seconds, bill.amount_excl_tax, bill.tax_amount,
        bill.amount_incl_tax)


Damage = Callable[[asyncpg.Pool, Redis], Awaitable[Any]]
DAMAGE: dict[str, tuple[Damage, str, str]] = {
    "a session lost": (lambda db, _: db.execute("DELETE FROM billing_transactions; DELETE FROM charging_sessions"),
                       "lost", "acknowledged start without a session"),
    "a stop lost": (lambda db, _: db.execute("UPDATE charging_sessions SET status = 'active', closed_by = NULL"
                                             " WHERE id = 1"), "lost", "acknowledged stop, session not closed by it"),
    "a second session": (lambda db, _: db.execute(
        "INSERT INTO charging_sessions (id, station_id, connector_id, status, meter_start_wh, started_at)"
        " VALUES (2, $1, 1, 'active', 0, $2)", STATION, T0), "duplicated", "a second session for one start"),
    "a bill priced wrong": (lambda db, _: db.execute("UPDATE billing_transactions SET amount_incl_tax = 0.01"),
                            "wrong", "bill differs from the tariff applied to the session"),
    "a bill lost": (lambda db, _: db.execute("DELETE FROM billing_transactions"), "lost",
                    "completed session without a bill"),
    "a reading lost": (lambda db, _: db.execute("DELETE FROM telemetry_data WHERE measured_at = $1",
                                                T0 + timedelta(seconds=5)), "lost",
                       "acknowledged sampled value not stored"),
    "a reading on the wrong connector": (lambda db, _: db.execute(
        "UPDATE telemetry_data SET connector_id = 0 WHERE context = 'Transaction.End'"), "wrong",
        "sampled value stored under another connector"),
    "a reading no station sent": (lambda db, _: db.execute(
        "INSERT INTO telemetry_data (station_id, connector_id, measured_at, measurand, value)"
        " VALUES ($1, 1, $2, 'Voltage', 230)", STATION, T0), "duplicated", "sampled value no station sent"),
    "an event dead in the outbox": (lambda db, _: db.execute(
        "INSERT INTO outbox (source, destination, path, idempotency_key, payload, dead_at)"
        " VALUES ('ocpp', 'telemetry', '/x', 'k', '{}', now())"), "lost", "outbox event rejected by its receiver"),
    "a stale active session in Redis": (lambda _, redis: redis.set(f"sessions:active:{STATION}:1", b'{"id": 1}'),
                                        "wrong", "Redis caches a session as active that is not"),
}


async def test_what_was_promised_and_kept_passes(db: asyncpg.Pool, redis: Redis, database_url: str,
                                                 redis_url: str) -> None:
    await record_what_the_stations_were_promised(db)
    findings = await check_invariants(database_url, redis_url, STATION, station_truth(LEDGER))
    assert (findings.sessions, findings.stops, findings.bills, findings.sampled_values) == (1, 1, 1, 2)
    assert findings.violations == []


@pytest.mark.parametrize("damage", DAMAGE)
async def test_every_kind_of_damage_is_seen(db: asyncpg.Pool, redis: Redis, database_url: str, redis_url: str,
                                            damage: str) -> None:
    await record_what_the_stations_were_promised(db)
    do_damage, verdict, what = DAMAGE[damage]
    await do_damage(db, redis)
    findings = await check_invariants(database_url, redis_url, STATION, station_truth(LEDGER))
    assert (verdict, what) in {(v.verdict, v.what) for v in findings.violations}, findings.violations


def test_a_transaction_id_given_for_two_starts_is_seen() -> None:
    second = {**LEDGER[0], "payload": {**LEDGER[0]["payload"], "connectorId": 2}}
    (violation,) = station_truth([LEDGER[0], second]).violations
    assert (violation.verdict, violation.what) == ("duplicated", "one transactionId for two starts")
