"""Where a station's configuration stands against the desired one: pure rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chargeplane.services.ocpp.core.commands import CommandOutcome

# ChangeConfiguration.conf statuses that mean the station took the value.
TAKEN = frozenset({"Accepted", "RebootRequired"})
# The station's answer did not say: a CALLERROR, no answer in time, or one that breaks the schema.
FAILED = "Failed"



def keys_to_change(desired: Mapping[str, str], reported: Mapping[str, str | None]) -> dict[str, str]:
    """The desired keys whose reported value differs (OCPP values are compared as the strings
    they are; a key the station did not report is tried too: it answers NotSupported)."""
    return {key: value for key, value in desired.items() if key not in reported or reported[key] != value}


def desired_state(desired: Mapping[str, str], reported: Mapping[str, str | None],
                  changes: Mapping[str, Mapping[str, Any]], last_boot_at: datetime | None) -> dict[str, Any]:
    """Where each desired key stands, and one status for them all.

    A key is `RebootRequired` when the station took its value with that answer and has not
    booted since; else `Applied` when the station reports the desired value; else it has the
    station's answer to the last ChangeConfiguration of that value (`Rejected`,
    `NotSupported`, `Failed`), or is `Pending` (not tried yet, e.g. the station is offline).
    The overall status is the worst of them: Rejected > Pending > RebootRequired > Applied.
    """
    keys = []
    for key, value in sorted(desired.items()):
        change = changes.get(key)
        answered = change if change is not None and change["value"] == value else None  # to this very value
        answer = answered["status"] if answered is not None else None
        if (answered is not None and answer == "RebootRequired"
                and (last_boot_at is None or answered["requested_at"] > last_boot_at)):
            status = "RebootRequired"
        elif key in reported and reported[key] == value:
            status = "Applied"
        elif answer in ("Rejected", "NotSupported", FAILED):
            status = answer
        else:
            status = "Pending"
        keys.append({"key": key, "value": value, "reported_value": reported.get(key), "status": status,
                     "answer": answer, "detail": answered["detail"] if answered is not None and answer else None,
                     "requested_at": answered["requested_at"] if answered is not None and answer else None})
    statuses = {k["status"] for k in keys}
    if statuses & {"Rejected", "NotSupported", FAILED}:
        overall = "Rejected"
    elif "Pending" in statuses:
        overall = "Pending"
    elif "RebootRequired" in statuses:
        overall = "RebootRequired"
    else:
        overall = "Applied"
    return {"status": overall, "keys": keys}


def change_answer(outcome: CommandOutcome) -> tuple[str, str | None]:
    """(status, detail) to keep for a ChangeConfiguration's outcome."""
    if outcome.status == "result":
        return str(outcome.payload["status"]), None
    if outcome.status == "error":
        return FAILED, f"CALLERROR {outcome.payload['errorCode']}: {outcome.payload.get('errorDescription', '')}"
    if outcome.status == "invalid":
        return FAILED, f"a reply that breaks the OCPP schema: {outcome.payload['errorDescription']}"
    return FAILED, f"no answer ({outcome.status})"
