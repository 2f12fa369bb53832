"""Pure status helpers: standard `status.conditions[]` and the live view of a station."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Condition = dict[str, Any]

# Condition types (each is True when all is well)
REGISTERED = "Registered"  # the gateway knows the station, so it may connect
TARIFF_BOUND = "TariffBound"  # billing prices the station's sessions with its tariffRef
CONNECTED = "Connected"  # the station's WebSocket is open (read back from the gateway)
AS_EXPECTED = "AsExpected"  # the vendor and model it reported on boot are the ones in its spec
SYNCED = "Synced"  # the Tariff is in billing as written
DELETABLE = "Deletable"  # no station bills with the Tariff any more
CONFIGURATION_APPLIED = "ConfigurationApplied"  # the station reports every key of spec.configuration as desired
CHARGING_LIMITED = "ChargingLimited"  # the station holds the ChargePointMaxProfile of its spec.chargingLimit
AVAILABLE = "Available"  # every Deployment of the Platform has its replicas available
# the resource is as its spec asks (`kubectl wait --for=condition=Ready`): a station registered,
# bound to its tariff and, where asked, configured and limited; a tariff in billing; a platform
# applied and available
READY = "Ready"

# A condition's message is cut here (the CRDs allow 32768 characters, as metav1.Condition does):
# what a service answered in full belongs in the operator's log, not in every `kubectl describe`.
MESSAGE_MAX_LENGTH = 1024


def kube_time(when: datetime) -> str:
    """Kubernetes' timestamp form: UTC, whole seconds, Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: Sequence[Condition], type_: str, status: bool, reason: str, message: str, *,
                  generation: int | None, now: datetime) -> list[Condition]:
    """`conditions` with the one of `type_` set; its lastTransitionTime moves only when its status does."""
    value = "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != value
    if len(message) > MESSAGE_MAX_LENGTH:
        message = message[:MESSAGE_MAX_LENGTH - 1] + "…"
    condition: Condition = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": kube_time(now) if changed or previous is None else previous["lastTransitionTime"],
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [c for c in conditions if c.get("type") != type_]
    return sorted([*others, condition], key=lambda c: str(c["type"]))


def _boot_mismatches(view: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    return [f"{field} {view.get(field)!r}, expected {expected[field]!r}" for field in ("vendor", "model")
            if expected.get(field) and view.get(field) != expected[field]]


def build_station_status(view: Mapping[str, Any] | None, *, expected: Mapping[str, Any],
                         conditions: Sequence[Condition], generation: int | None, now: datetime) -> dict[str, Any]:
    """A ChargingStation's status from the gateway's view of it (None: not registered);
    `expected` is its spec (vendor and model)."""
    if view is None:
        return {
            "phase": "Unregistered",
            "connectors": [],
            "connectorStates": "",
            "conditions": set_condition(conditions, CONNECTED, False, "NotRegistered",
                                        "the gateway does not know this station", generation=generation, now=now),
        }
    connectors = [
        {"id": c["connector_id"], "status": c["status"], "errorCode": c["error_code"]}
        for c in view["connectors"] if c["connector_id"] > 0  # connector 0 is the station itself
    ]
    online = bool(view["connected"])
    heartbeat = view.get("last_heartbeat_at")
    status: dict[str, Any] = {
        "phase": "Online" if online else "Offline",
        "connectors": connectors,
        "connectorStates": ",".join(str(c["status"]) for c in connectors),
        "conditions": set_condition(
            conditions, CONNECTED, online, "Online" if online else "Offline",
            "the station's WebSocket is open" if online else "the station is not connected",
            generation=generation, now=now,
        ),
    }
    if heartbeat:
        status["lastHeartbeat"] = kube_time(datetime.fromisoformat(heartbeat))
    if view.get("last_boot_at"):
        status["reported"] = {key: view[field] for key, field in (
            ("vendor", "vendor"), ("model", "model"), ("firmwareVersion", "firmware_version"),
        ) if view.get(field)}
        mismatches = _boot_mismatches(view, expected)
        status["conditions"] = set_condition(
            status["conditions"], AS_EXPECTED, not mismatches, "Mismatch" if mismatches else "Matches",
            "; ".join(mismatches) or "vendor and model as expected", generation=generation, now=now,
        )
    return status


def configuration_condition(desired: Mapping[str, str], gateway: Mapping[str, Any] | None) -> tuple[bool, str, str]:
    """(ok, reason, message) of ConfigurationApplied: `desired` is spec.configuration, `gateway`
    the gateway's configuration view of the station (GET /internal/stations/{id}/configuration)."""
    if not desired:
        return True, "NothingToEnforce", "spec.configuration is empty"
    if gateway is None:
        return False, "NotRegistered", "the gateway does not know this station"
    state = gateway["desired"]
    if {k["key"]: k["value"] for k in state["keys"]} != dict(desired):
        return False, "Pending", "the gateway has not received this configuration yet"

    def keys(*statuses: str) -> str:
        return ", ".join(f"{k['key']} ({k['status']})" if len(statuses) > 1 else k["key"]
                         for k in state["keys"] if k["status"] in statuses)

    if state["status"] == "Rejected":
        return False, "Rejected", f"the station refused: {keys('Rejected', 'NotSupported', 'Failed')}"
    if state["status"] == "Pending":
        return False, "Pending", f"waiting for the station to be online and answer: {keys('Pending')}"
    if state["status"] == "RebootRequired":
        return False, "RebootRequired", f"the station applies these after a reboot: {keys('RebootRequired')}"
    return True, "Applied", f"the station reports the desired value of {', '.join(sorted(desired))}"


def status_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level status fields that differ: an unchanged station costs no API write."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def energy_price_range(spec: Mapping[str, Any]) -> str:
    """A Tariff's PER-KWH column: one price, or lowest-highest for time-of-use; "" if energy is free."""
    prices = sorted({float(c["price"]) for element in spec["elements"] for c in element["priceComponents"]
                     if c["type"] == "ENERGY"})
    if not prices:
        return ""
    low, high = (f"{price:.2f}" if round(price, 2) == price else str(price) for price in (prices[0], prices[-1]))
    return low if low == high else f"{low}-{high}"


def condition_of(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == type_), None)


class ConditionSet:
    """The conditions one writer owns on one resource (server-side apply gives each writer its
    own condition types): `note` changes one as a handler learns it; `owned` is every type of
    this writer, noted or as it was, ready to apply. A type the writer has never set and has
    not noted is left out."""

    def __init__(self, current: Sequence[Condition], types: Sequence[str], *, generation: int | None) -> None:
        self.types = tuple(types)
        self.generation = generation
        self.conditions = [dict(c) for c in current if c.get("type") in self.types]

    def note(self, type_: str, ok: bool, reason: str, message: str) -> None:
        assert type_ in self.types, f"{type_} is another writer's condition"
        self.conditions = set_condition(self.conditions, type_, ok, reason, message, generation=self.generation,
                                        now=datetime.now(UTC))

    def get(self, type_: str) -> Condition | None:
        return condition_of(self.conditions, type_)

    def drop(self, type_: str) -> None:
        """No longer say anything of `type_` (what it was about is no longer asked for)."""
        self.conditions = [c for c in self.conditions if c["type"] != type_]

    def owned(self) -> list[Condition]:
        return list(self.conditions)


def station_readiness(conditions: Sequence[Condition]) -> tuple[bool, str, str]:
    """(ok, reason, message) of a ChargingStation's Ready: registered and bound, and none of what
    its spec asks of the station refused or pending."""
    missing = [c["type"] for c in (condition_of(conditions, t) for t in (REGISTERED, TARIFF_BOUND))
               if c is not None and c["status"] != "True"]
    missing += [t for t in (REGISTERED, TARIFF_BOUND) if condition_of(conditions, t) is None]
    pending = [c for c in conditions if c["type"] in (CONFIGURATION_APPLIED, CHARGING_LIMITED)
               and c["status"] == "False"]
    if missing:
        return False, "NotReconciled", f"waiting for {', '.join(sorted(set(missing)))}"
    if pending:
        return False, pending[0]["reason"], "; ".join(f"{c['type']}: {c['message']}" for c in pending)
    return True, "Reconciled", "registered, bound to its tariff and as its spec asks"
