"""OCPP timestamps: RFC 3339 in UTC with a trailing Z (some stations reject +00:00)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ocpp(moment: datetime) -> str:
    """`2026-11-26T08:00:00.123Z`: milliseconds, UTC, Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ocpp(text: str) -> datetime:
    """Parse a station's timestamp; a timestamp without offset is taken as UTC,
    as many stations in the field send one."""
    moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
