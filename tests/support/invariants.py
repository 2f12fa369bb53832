"""What the stations were promised, held against what the database holds.

The stations' ledger (`chargeplane-emulator --ledger`) says which messages got a
CALLRESULT, i.e. which the CSMS promised to keep. After the faults:

* every transactionId a station was given is one `charging_sessions` row with that
  station's connector, meterStart and start time, and once its StopTransaction was
  acknowledged, with its meterStop and stop time (so no session the station stopped is open);
* every completed session has one `billing_transactions` row whose amount is the tariff
  applied to the session's recorded energy and time (recomputed with `price_session`);
* every sampled value of an acknowledged MeterValues (or StopTransaction transactionData)
  is in `telemetry_data` exactly once, with its value;
* nothing is there that no station sent;
* the outbox holds no event a receiver rejected, and Redis caches no session as active that
  PostgreSQL has completed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from chargeplane.emulator.protocol import parse_timestamp
from chargeplane.services.billing.pricing import MeterSample, SessionUsage, Tariff, price_session

ENERGY_REGISTER = "Energy.Active.Import.Register"
# (station, connector, measured at, measurand, phase, location, context): telemetry's natural key
SampleKey = tuple[str, int, datetime, str, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Start:
    station_id: str
    connector_id: int
    meter_start: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Stop:
    meter_stop: int
    stopped_at: datetime


@dataclass(frozen=True, slots=True)
class Violation:
    # "lost", "duplicated" or "wrong"
    verdict: str
    what: str
    ids: str


@dataclass
class StationTruth:
    """The stations' side: what they sent and which of it the CSMS acknowledged."""

    starts: dict[int, Start] = field(default_factory=dict)
    stops: dict[int, Stop] = field(default_factory=dict)
    samples: dict[SampleKey, Decimal] = field(default_factory=dict)
    # everything sent, acknowledged or not: the CSMS may keep what it never acknowledged
    sent_starts: set[Start] = field(default_factory=set)
    sent_samples: set[SampleKey] = field(default_factory=set)
    violations: list[Violation] = field(default_factory=list)


def _samples(station_id: str, connector_id: int, meter_value: list[dict[str, Any]]) -> dict[SampleKey, Decimal]:
    found = {}
    for entry in meter_value:
        at = parse_timestamp(entry["timestamp"])
        for value in entry["sampledValue"]:
            key = (station_id, connector_id, at, value.get("measurand", ENERGY_REGISTER), value.get("phase"),
                   value.get("location"), value.get("context"))
            found[key] = Decimal(value["value"])
    return found


def station_truth(ledger: list[dict[str, Any]]) -> StationTruth:
    truth = StationTruth()
    stop_payloads = []
    for entry in ledger:
        action, payload, station_id = entry["action"], entry["payload"], entry["station"]
        acknowledged = "result" in entry
        if action == "StartTransaction":
            start = Start(station_id, payload["connectorId"], payload["meterStart"],
                          parse_timestamp(payload["timestamp"]))
            truth.sent_starts.add(start)
            if acknowledged:
                transaction_id = entry["result"]["transactionId"]
                earlier = truth.starts.setdefault(transaction_id, start)
                if earlier != start:
                    truth.violations.append(Violation("duplicated", "one transactionId for two starts",
                                                      f"transaction {transaction_id}: {earlier} and {start}"))
        elif action == "MeterValues":
            samples = _samples(station_id, payload["connectorId"], payload["meterValue"])
            truth.sent_samples |= samples.keys()
            if acknowledged:
                truth.samples |= samples
        elif action == "StopTransaction":
            stop_payloads.append((station_id, payload, acknowledged))
            if acknowledged:
                truth.stops[payload["transactionId"]] = Stop(payload["meterStop"],
                                                             parse_timestamp(payload["timestamp"]))
    for start, count in Counter(truth.starts.values()).items():
        if count > 1:
            ids = sorted(tid for tid, s in truth.starts.items() if s == start)
            truth.violations.append(Violation("duplicated", "one start given several transactionIds", f"{ids}"))
    # a stop's transactionData belongs to the connector its transaction started on
    for station_id, payload, acknowledged in stop_payloads:
        start = truth.starts.get(payload["transactionId"])
        if start is None or not payload.get("transactionData"):
            continue
        samples = _samples(station_id, start.connector_id, payload["transactionData"])
        truth.sent_samples |= samples.keys()
        if acknowledged:
            truth.samples |= samples
    return truth


@dataclass
class Findings:
    sessions: int = 0
    stops: int = 0
    bills: int = 0
    sampled_values: int = 0
    violations: list[Violation] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for violation in self.violations if violation.verdict == verdict)

    def flag(self, verdict: str, what: str, ids: object) -> None:
        self.violations.append(Violation(verdict, what, str(ids)))


def _check_sessions(truth: StationTruth, sessions: dict[int, asyncpg.Record], findings: Findings) -> None:
    for transaction_id, start in sorted(truth.starts.items()):
        row = sessions.get(transaction_id)
        if row is None:
            findings.flag("lost", "acknowledged start without a session", transaction_id)
            continue
        recorded = Start(row["station_id"], row["connector_id"], row["meter_start_wh"], row["started_at"])
        if recorded != start:
            findings.flag("wrong", "session differs from its start", f"{transaction_id}: {recorded} != {start}")
        stop = truth.stops.get(transaction_id)
        if stop is None:
            continue
        if row["status"] != "completed" or row["closed_by"] != "station":
            findings.flag("lost", "acknowledged stop, session not closed by it",
                          f"{transaction_id} ({row['status']}, closed by {row['closed_by']})")
        elif (row["meter_stop_wh"], row["stopped_at"]) != (stop.meter_stop, stop.stopped_at):
            findings.flag("wrong", "session differs from its stop",
                          f"{transaction_id}: {row['meter_stop_wh']} at {row['stopped_at']} != {stop}")
    for session_id, row in sorted(sessions.items()):
        if session_id in truth.starts:
            continue
        start = Start(row["station_id"], row["connector_id"], row["meter_start_wh"], row["started_at"])
        if start in truth.starts.values():
            findings.flag("duplicated", "a second session for one start", session_id)
        elif start not in truth.sent_starts:
            findings.flag("duplicated", "a session no station started", session_id)


async def _check_bills(conn: asyncpg.Connection, prefix: str, sessions: dict[int, asyncpg.Record],
                       findings: Findings) -> None:
    bills = {row["session_id"]: row for row in await conn.fetch(
        "SELECT b.session_id, b.energy_wh, b.charging_seconds, b.parking_seconds, b.amount_incl_tax, t.definition"
        " FROM billing_transactions b"
        " JOIN tariffs t ON t.id = b.tariff_id WHERE b.station_id LIKE $1", prefix + "%")}
    findings.bills = len(bills)
    samples: dict[int, list[MeterSample]] = {}
    for row in await conn.fetch(
        "SELECT session_id, measured_at, CASE WHEN unit = 'kWh' THEN value * 1000 ELSE value END AS wh"
        " FROM telemetry_data WHERE station_id LIKE $1 AND measurand = $2 AND session_id IS NOT NULL"
        " ORDER BY measured_at", prefix + "%", ENERGY_REGISTER,
    ):
        samples.setdefault(row["session_id"], []).append(MeterSample(row["measured_at"], row["wh"]))
    for session_id, session in sorted(sessions.items()):
        bill = bills.pop(session_id, None)
        if session["status"] != "completed":
            if bill is not None:
                findings.flag("wrong", "a bill for an open session", session_id)
            continue
        if bill is None:
            findings.flag("lost", "completed session without a bill", session_id)
            continue
        priced = price_session(Tariff.model_validate(bill["definition"]), SessionUsage(
            started_at=session["started_at"], stopped_at=session["stopped_at"],
            meter_start_wh=session["meter_start_wh"], meter_stop_wh=session["meter_stop_wh"],
            samples=samples.get(session_id, []),
        ))
        billed = (bill["energy_wh"], bill["charging_seconds"], bill["parking_seconds"], bill["amount_incl_tax"])
        expected = (priced.energy_wh, priced.charging_seconds, priced.parking_seconds, priced.amount_incl_tax)
        if billed != expected:
            findings.flag("wrong", "bill differs from the tariff applied to the session",
                          f"session {session_id}: (Wh, charging s, parking s, amount) {billed} != {expected}")
    for session_id in bills:
        findings.flag("duplicated", "a bill without a session", session_id)


async def _check_samples(conn: asyncpg.Connection, prefix: str, truth: StationTruth, findings: Findings) -> None:
    stored: Counter[SampleKey] = Counter()
    values: dict[SampleKey, Decimal] = {}
    for row in await conn.fetch(
        "SELECT station_id, connector_id, measured_at, measurand, phase, location, context, value"
        " FROM telemetry_data WHERE station_id LIKE $1", prefix + "%",
    ):
        key = (row["station_id"], row["connector_id"], row["measured_at"], row["measurand"], row["phase"],
               row["location"], row["context"])
        stored[key] += 1
        values[key] = row["value"]
    findings.sampled_values = len(truth.samples)
    unexpected = {key for key in stored if key not in truth.sent_samples}
    # the same reading under any connector
    unexpected_readings: dict[tuple[Any, ...], list[SampleKey]] = defaultdict(list)
    for key in unexpected:
        unexpected_readings[(key[0], *key[2:])].append(key)
    for key, value in truth.samples.items():
        if stored[key] == 0:
            elsewhere = unexpected_readings.pop((key[0], *key[2:]), [])
            if elsewhere:
                unexpected -= set(elsewhere)
                findings.flag("wrong", "sampled value stored under another connector",
                              f"{key}: connector {[other[1] for other in elsewhere]}")
            else:
                findings.flag("lost", "acknowledged sampled value not stored", key)
        elif values[key] != value:
            findings.flag("wrong", "sampled value stored with another value", f"{key}: {values[key]} != {value}")
    for key, count in stored.items():
        if count > 1:
            findings.flag("duplicated", "sampled value stored more than once", f"{key} x{count}")
    for key in unexpected:
        findings.flag("duplicated", "sampled value no station sent", key)


async def check_invariants(database_url: str, redis_url: str, prefix: str, truth: StationTruth) -> Findings:
    findings = Findings(sessions=len(truth.starts), stops=len(truth.stops), violations=list(truth.violations))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                  schema="pg_catalog")
        sessions = {row["id"]: row for row in await conn.fetch(
            "SELECT id, station_id, connector_id, status, meter_start_wh, meter_stop_wh, started_at, stopped_at,"
            " closed_by FROM charging_sessions WHERE station_id LIKE $1", prefix + "%")}
        _check_sessions(truth, sessions, findings)
        await _check_bills(conn, prefix, sessions, findings)
        await _check_samples(conn, prefix, truth, findings)
        for row in await conn.fetch("SELECT id, path, last_error FROM outbox WHERE dead_at IS NOT NULL"):
            findings.flag("lost", "outbox event rejected by its receiver", f"{row['id']} {row['path']}")
    finally:
        await conn.close()
    redis = Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match=f"sessions:active:{prefix}*"):
            cached = orjson.loads(await redis.get(key) or b"null")
            if cached is not None and sessions.get(cached["id"], {}).get("status") != "active":
                findings.flag("wrong", "Redis caches a session as active that is not", cached["id"])
    finally:
        await redis.aclose()
    return findings
