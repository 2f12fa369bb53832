"""ChargingStation: registered with the gateway, bound to its tariff in billing, given
credentials and, when asked, a simulator; the status of a namespace's stations read back from
the gateway in one request per interval."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from .builders import (
    CHARGING_LIMIT_PROFILE_ID,
    OwnerReference,
    billing_tariff_id,
    build_charging_limit,
    build_credentials_secret,
    build_registration,
    build_simulator_deployment,
    credentials_reference,
    simulator_name,
)
from .constants import FIELD_MANAGER, STATUS_FIELD_MANAGER
from .kube import apply, apply_status, create_if_absent, delete_if_present, read_secret_value
from .log import Log
from .metrics import measured
from .platform_api import PlatformRejected, PlatformUnavailable, StationState
from .runtime import Runtime
from .status import (
    AS_EXPECTED,
    CHARGING_LIMITED,
    CONFIGURATION_APPLIED,
    CONNECTED,
    READY,
    REGISTERED,
    TARIFF_BOUND,
    ConditionSet,
    build_station_status,
    configuration_condition,
    station_readiness,
)

KIND = "ChargingStation"
# Deleting waits this many retries (of settings.retry_delay) for an unreachable gateway or
# billing, then lets the resource go: a namespace being deleted takes the platform first.
DEREGISTER_RETRIES = 6
# the conditions each writer owns (server-side apply keeps them apart)
HANDLER_CONDITIONS = (REGISTERED, TARIFF_BOUND)
STATUS_CONDITIONS = (CONNECTED, AS_EXPECTED, CONFIGURATION_APPLIED, CHARGING_LIMITED, READY)


@dataclass(frozen=True)
class StationEntry:
    """A ChargingStation as kopf's index holds it, for the namespace's status loop."""

    name: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    generation: int | None


@measured("apply_station")
async def apply_station(runtime: Runtime, *, namespace: str, name: str, spec: Mapping[str, Any],
                        status: Mapping[str, Any], generation: int | None, owner: OwnerReference,
                        tariffs: set[str], logger: Log) -> None:
    """Register the station and bind its tariff; Registered and TariffBound say how far that got."""
    if not spec.get("credentials", {}).get("secretRef"):
        secret = build_credentials_secret(name, secrets.token_urlsafe(24), owner=owner)
        await create_if_absent(runtime.kube, namespace, secret, logger)
    conditions = ConditionSet(status.get("conditions", []), HANDLER_CONDITIONS, generation=generation)
    try:
        await _register(runtime, namespace, name, spec, conditions)
        # after the registration, so that the emulated station is not refused when it first connects
        if spec.get("simulator", {}).get("enabled"):
            simulator = build_simulator_deployment(name, spec, settings=runtime.settings, owner=owner)
            await apply(runtime.kube, namespace, simulator)
        else:
            await delete_if_present(runtime.kube, namespace, "Deployment", simulator_name(name), logger)
        await _bind_tariff(runtime, namespace, spec, tariffs, conditions)
    finally:
        await apply_status(runtime.kube, namespace, KIND, name,
                           {"observedGeneration": generation, "conditions": conditions.owned()},
                           manager=FIELD_MANAGER)


async def _register(runtime: Runtime, namespace: str, name: str, spec: Mapping[str, Any],
                    conditions: ConditionSet) -> None:
    station_id = spec["stationId"]
    secret_name, key = credentials_reference(name, spec)
    password = await read_secret_value(runtime.kube, namespace, secret_name, key)
    if password is None:
        conditions.note(REGISTERED, False, "CredentialsMissing", f"Secret {secret_name!r} has no key {key!r}")
        raise kopf.TemporaryError(f"waiting for Secret {secret_name}/{key}", delay=runtime.settings.retry_delay)
    try:
        await runtime.platform.set_station_password(namespace, station_id, password)
        await runtime.platform.register_station(namespace, station_id, build_registration(spec))
    except PlatformRejected as exc:  # e.g. a password auth will not take (8 to 40 characters)
        conditions.note(REGISTERED, False, "CredentialsRejected", str(exc))
        raise kopf.TemporaryError(f"the platform refused the station's credentials: {exc}",
                                  delay=runtime.settings.retry_delay) from exc
    except PlatformUnavailable as exc:
        conditions.note(REGISTERED, False, "GatewayUnavailable", str(exc))
        raise kopf.TemporaryError(f"waiting for the gateway: {exc}", delay=runtime.settings.retry_delay) from exc
    conditions.note(REGISTERED, True, "Registered", f"station {station_id} may connect")


async def _bind_tariff(runtime: Runtime, namespace: str, spec: Mapping[str, Any], tariffs: set[str],
                       conditions: ConditionSet) -> None:
    tariff = spec["tariffRef"]["name"]
    if tariff not in tariffs:
        conditions.note(TARIFF_BOUND, False, "TariffNotFound", f"no Tariff {tariff!r} in namespace {namespace}")
        raise kopf.TemporaryError(f"waiting for Tariff {tariff!r}", delay=runtime.settings.retry_delay)
    try:
        await runtime.platform.bind_tariff(namespace, spec["stationId"], billing_tariff_id(namespace, tariff))
    except (PlatformUnavailable, PlatformRejected) as exc:
        # billing answers 404 until the Tariff's own handler has pushed it
        conditions.note(TARIFF_BOUND, False, "TariffNotInBilling", str(exc))
        raise kopf.TemporaryError(f"waiting for billing to know tariff {tariff!r}: {exc}",
                                  delay=runtime.settings.retry_delay) from exc
    conditions.note(TARIFF_BOUND, True, "Bound", f"sessions are billed with Tariff {tariff!r}")


@measured("delete_station")
async def delete_station(runtime: Runtime, *, namespace: str, spec: Mapping[str, Any], retry: int,
                         logger: Log) -> None:
    """Deregister the station (its Secret and simulator go with it: they are owned by it)."""
    station_id = spec["stationId"]
    try:
        await runtime.platform.unbind_tariff(namespace, station_id)
        await runtime.platform.deregister_station(namespace, station_id)
        await runtime.platform.forget_station_password(namespace, station_id)
    except PlatformUnavailable as exc:
        if retry < DEREGISTER_RETRIES:
            raise kopf.TemporaryError(f"waiting for the platform to deregister {station_id}: {exc}",
                                      delay=runtime.settings.retry_delay) from exc
        logger.warning(f"the platform stayed unreachable; {station_id} was not deregistered: {exc}")


@measured("station_statuses")
async def refresh_station_statuses(runtime: Runtime, *, namespace: str, stations: Sequence[StationEntry],
                                   logger: Log) -> None:
    """Phase, connectors, last heartbeat and what of its spec the station holds, for every
    station of the namespace from one request to the gateway; only changed statuses are written."""
    if not stations:
        return
    try:
        states = await runtime.platform.station_states(
            namespace, [s.spec["stationId"] for s in stations],
            configuration_of=[s.spec["stationId"] for s in stations if s.spec.get("configuration")])
    except PlatformUnavailable as exc:
        logger.debug(f"status not refreshed: {exc}")
        for station in stations:
            if station.status.get("phase") != "Unknown":
                await apply_status(runtime.kube, namespace, KIND, station.name,
                                   {**_status_owned(station.status), "phase": "Unknown"},
                                   manager=STATUS_FIELD_MANAGER)
        return
    for station in stations:
        desired = await _desired_status(runtime, namespace, station, states.get(station.spec["stationId"]), logger)
        if _status_owned(station.status) != desired:
            await apply_status(runtime.kube, namespace, KIND, station.name, desired, manager=STATUS_FIELD_MANAGER)


STATUS_FIELDS = ("phase", "connectors", "connectorStates", "lastHeartbeat", "reported")


def _status_owned(status: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a station's status the status loop writes, as it is now."""
    owned = {key: status[key] for key in STATUS_FIELDS if key in status}
    owned["conditions"] = [c for c in status.get("conditions", []) if c["type"] in STATUS_CONDITIONS]
    return owned


async def _desired_status(runtime: Runtime, namespace: str, station: StationEntry, state: StationState | None,
                          logger: Log) -> dict[str, Any]:
    now = datetime.now(UTC)
    current = station.status.get("conditions", [])
    desired = build_station_status(state.view if state else None, expected=station.spec,
                                   conditions=[c for c in current if c["type"] in STATUS_CONDITIONS],
                                   generation=station.generation, now=now)
    conditions = ConditionSet(desired["conditions"], STATUS_CONDITIONS, generation=station.generation)
    configuration = station.spec.get("configuration") or {}
    conditions.note(CONFIGURATION_APPLIED, *configuration_condition(configuration, state.configuration if state
                                                                     else None))
    if state is not None:
        await _reconcile_charging_limit(runtime, namespace, station.spec, state, conditions, logger)
    # Ready reads the handlers' conditions as the station has them, and this loop's as they are now
    readiness = [c for c in current if c["type"] in HANDLER_CONDITIONS] + conditions.owned()
    conditions.note(READY, *station_readiness(readiness))
    desired["conditions"] = conditions.owned()
    return desired


async def _reconcile_charging_limit(runtime: Runtime, namespace: str, spec: Mapping[str, Any], state: StationState,
                                    conditions: ConditionSet, logger: Log) -> None:
    """spec.chargingLimit onto an online station: its ChargePointMaxProfile sent when the station
    does not hold it (as the gateway knows from the station's replies), cleared when the spec
    drops it; ChargingLimited says how that went."""
    command = build_charging_limit(spec)
    held = state.charging_profiles
    if command is None:
        if CHARGING_LIMIT_PROFILE_ID in held and state.view["connected"]:
            try:
                await runtime.platform.send_command(namespace, spec["stationId"], "ClearChargingProfile",
                                                    {"id": CHARGING_LIMIT_PROFILE_ID})
                logger.info(f"charging limit of {spec['stationId']} cleared")
            except (PlatformUnavailable, PlatformRejected) as exc:
                logger.info(f"charging limit of {spec['stationId']} not cleared yet: {exc}")
        conditions.drop(CHARGING_LIMITED)
        return
    limit_w = command["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
    if held.get(CHARGING_LIMIT_PROFILE_ID) == command["csChargingProfiles"]:
        conditions.note(CHARGING_LIMITED, True, "Applied", f"the station holds its {limit_w} W ChargePointMaxProfile")
        return
    if not state.view["connected"]:
        conditions.note(CHARGING_LIMITED, False, "StationOffline", "the limit is sent when the station is online")
        return
    try:
        answer = await runtime.platform.send_command(namespace, spec["stationId"], "SetChargingProfile", command)
    except (PlatformUnavailable, PlatformRejected) as exc:
        conditions.note(CHARGING_LIMITED, False, "NotSent", str(exc))
        return
    if answer != "Accepted":
        conditions.note(CHARGING_LIMITED, False, "Refused", f"the station answered {answer} to its {limit_w} W limit")
        return
    logger.info(f"charging limit of {limit_w} W sent to {spec['stationId']}")
    conditions.note(CHARGING_LIMITED, True, "Applied", f"the station holds its {limit_w} W ChargePointMaxProfile")
