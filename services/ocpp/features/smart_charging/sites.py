"""Charging sites, the pure part: a site's limit divided into equal shares, each sent to a
session as a TxProfile of the platform's own (see `balancer`)."""

from __future__ import annotations

from typing import Any

# The platform's own TxProfiles: one per connector, replaced as the shares change.
SITE_PROFILE_ID_BASE = 910_000
SITE_STACK_LEVEL = 1


def site_profile_id(connector_id: int) -> int:
    return SITE_PROFILE_ID_BASE + connector_id


def is_site_profile(charging_profile_id: int) -> bool:
    return SITE_PROFILE_ID_BASE < charging_profile_id < SITE_PROFILE_ID_BASE + 1000


def share_w(max_power_w: int, sessions: int) -> int:
    """Each session's equal share in whole watts (rounded down: the sum stays within the limit)."""
    return max_power_w // sessions if sessions else max_power_w


def site_share_command(connector_id: int, transaction_id: int, limit_w: int) -> dict[str, Any]:
    """The SetChargingProfile that caps one session at its share of the site."""
    return {"connectorId": connector_id, "csChargingProfiles": {
        "chargingProfileId": site_profile_id(connector_id), "transactionId": transaction_id,
        "stackLevel": SITE_STACK_LEVEL, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_w}]},
    }}
