"""ChargingStation: registered with the gateway, bound to its tariff in billing, given
credentials and, when asked, a simulator; its status read back from the gateway."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes_asyncio.client import ApiException

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
from .kube import create_if_absent, create_or_patch, delete_if_present, read_secret_value
from .platform_api import PlatformRejected, PlatformUnavailable
from .platforms import ensure_platform
from .runtime import Runtime
from .status import (
    CHARGING_LIMITED,
    CONFIGURATION_APPLIED,
    REGISTERED,
    TARIFF_BOUND,
    Condition,
    build_station_status,
    configuration_condition,
    note_condition,
    set_condition,
    status_changes,
)

# Deleting waits this many retries (of settings.retry_delay) for an unreachable gateway or
# billing, then lets the resource go: a namespace being deleted takes the platform first.
DEREGISTER_RETRIES = 6


async def apply_station(runtime: Runtime, *, namespace: str, name: str, spec: Mapping[str, Any],
                        status: Mapping[str, Any], generation: int | None, owner: OwnerReference,
                        platform_owners: Iterable[OwnerReference], stations: int, tariffs: set[str],
                        patch_status: MutableMapping[str, Any], logger: kopf.Logger) -> None:
    await ensure_platform(runtime, namespace, owners=platform_owners, stations=stations, logger=logger)
    if not spec.get("credentials", {}).get("secretRef"):
        secret = build_credentials_secret(name, secrets.token_urlsafe(24), owner=owner)
        await create_if_absent(runtime.kube, namespace, secret, logger)
    if "phase" not in status:
        patch_status["phase"] = "Pending"  # until the status timer reads the gateway

    def note(type_: str, ok: bool, reason: str, message: str) -> None:
        note_condition(patch_status, status, type_, ok, reason, message, generation=generation)

    station_id = spec["stationId"]
    secret_name, key = credentials_reference(name, spec)
    password = await read_secret_value(runtime.kube, namespace, secret_name, key)
    if password is None:
        note(REGISTERED, False, "CredentialsMissing", f"Secret {secret_name!r} has no key {key!r}")
        raise kopf.TemporaryError(f"waiting for Secret {secret_name}/{key}", delay=runtime.settings.retry_delay)
    try:
        await runtime.platform.set_station_password(namespace, station_id, password)
        await runtime.platform.register_station(namespace, station_id, build_registration(spec))
    except PlatformRejected as exc:  # e.g. a password auth will not take (8 to 40 characters)
        note(REGISTERED, False, "CredentialsRejected", str(exc))
        raise kopf.TemporaryError(f"the platform refused the station's credentials: {exc}",
                                  delay=runtime.settings.retry_delay) from exc
    except PlatformUnavailable as exc:
        note(REGISTERED, False, "GatewayUnavailable", str(exc))
        raise kopf.TemporaryError(f"waiting for the gateway: {exc}", delay=runtime.settings.retry_delay) from exc
    note(REGISTERED, True, "Registered", f"station {station_id} may connect")

    # after the registration, so that the emulated station is not refused when it first connects
    if spec.get("simulator", {}).get("enabled"):
        simulator = build_simulator_deployment(name, spec, settings=runtime.settings, owner=owner)
        await create_or_patch(runtime.kube, namespace, simulator, logger)
    else:
        await delete_if_present(runtime.kube, namespace, "Deployment", simulator_name(name), logger)

    tariff = spec["tariffRef"]["name"]
    if tariff not in tariffs:
        note(TARIFF_BOUND, False, "TariffNotFound", f"no Tariff {tariff!r} in namespace {namespace}")
        raise kopf.TemporaryError(f"waiting for Tariff {tariff!r}", delay=runtime.settings.retry_delay)
    try:
        await runtime.platform.bind_tariff(namespace, station_id, billing_tariff_id(namespace, tariff))
    except (PlatformUnavailable, PlatformRejected) as exc:
        # billing answers 404 until the Tariff's own handler has pushed it
        note(TARIFF_BOUND, False, "TariffNotInBilling", str(exc))
        raise kopf.TemporaryError(f"waiting for billing to know tariff {tariff!r}: {exc}",
                                  delay=runtime.settings.retry_delay) from exc
    note(TARIFF_BOUND, True, "Bound", f"sessions are billed with Tariff {tariff!r}")


async def delete_station(runtime: Runtime, *, namespace: str, spec: Mapping[str, Any], retry: int,
                         platform_owners: Iterable[OwnerReference], stations: int, logger: kopf.Logger) -> None:
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
    try:
        await ensure_platform(runtime, namespace, owners=platform_owners, stations=stations, logger=logger)
    except ApiException as exc:  # e.g. the namespace itself is being deleted: nothing to scale any more
        logger.info(f"the gateway was not rescaled: {exc.status} {exc.reason}")


async def refresh_station_status(runtime: Runtime, *, namespace: str, spec: Mapping[str, Any],
                                 status: Mapping[str, Any], generation: int | None, stopping: Callable[[], bool],
                                 patch_status: MutableMapping[str, Any], logger: kopf.Logger) -> None:
    """Phase, connectors, last heartbeat and how far spec.configuration is applied, as the gateway
    has them; only changes are written."""
    if stopping():
        return
    configuration = spec.get("configuration") or {}
    try:
        view = await runtime.platform.station_view(namespace, spec["stationId"])
        # only a station with keys to enforce costs the second call
        gateway_configuration = (await runtime.platform.station_configuration(namespace, spec["stationId"])
                                 if configuration and view is not None else None)
    except PlatformUnavailable as exc:
        logger.debug(f"status not refreshed: {exc}")
        desired: dict[str, Any] = {"phase": "Unknown"}
    else:
        now = datetime.now(UTC)
        desired = build_station_status(view, expected=spec, conditions=status.get("conditions", []),
                                       generation=generation, now=now)
        ok, reason, message = configuration_condition(configuration, gateway_configuration)
        desired["conditions"] = set_condition(desired["conditions"], CONFIGURATION_APPLIED, ok, reason, message,
                                              generation=generation, now=now)
        if view is not None and not stopping():
            desired["conditions"] = await reconcile_charging_limit(
                runtime, namespace=namespace, spec=spec, online=bool(view["connected"]),
                conditions=desired["conditions"], generation=generation, logger=logger)
    # A timer still running when the operator stops would write after kopf let go of the API
    # (and an error from its closing client would read as "Unknown").
    if not stopping():
        patch_status.update(status_changes(status, desired))


async def reconcile_charging_limit(runtime: Runtime, *, namespace: str, spec: Mapping[str, Any], online: bool,
                                   conditions: list[Condition], generation: int | None,
                                   logger: kopf.Logger) -> list[Condition]:
    """spec.chargingLimit onto an online station: its ChargePointMaxProfile sent when the station
    does not hold it (as the gateway knows from the station's replies), cleared when the spec drops
    it; `conditions` with ChargingLimited saying how that went."""
    command = build_charging_limit(spec)  # once: kopf's spec is a live view that may change meanwhile
    if command is None and not any(c["type"] == CHARGING_LIMITED for c in conditions):
        return conditions  # no limit asked for, none to take back

    def noted(ok: bool, reason: str, message: str) -> list[Condition]:
        return set_condition(conditions, CHARGING_LIMITED, ok, reason, message, generation=generation,
                             now=datetime.now(UTC))

    if not online:
        return noted(False, "StationOffline", "the limit is sent when the station is online") if command else conditions
    station_id = spec["stationId"]
    try:
        held = {p["charging_profile_id"]: p["profile"]
                for p in await runtime.platform.charging_profiles(namespace, station_id)}
        if command is None:
            if CHARGING_LIMIT_PROFILE_ID in held:
                await runtime.platform.send_command(namespace, station_id, "ClearChargingProfile",
                                                    {"id": CHARGING_LIMIT_PROFILE_ID})
                logger.info(f"charging limit of {station_id} cleared")
            return [c for c in conditions if c["type"] != CHARGING_LIMITED]
        limit_w = command["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        if held.get(CHARGING_LIMIT_PROFILE_ID) != command["csChargingProfiles"]:
            answer = await runtime.platform.send_command(namespace, station_id, "SetChargingProfile", command)
            if answer != "Accepted":
                return noted(False, "Refused", f"the station answered {answer} to its {limit_w} W limit")
            logger.info(f"charging limit of {limit_w} W sent to {station_id}")
    except (PlatformUnavailable, PlatformRejected) as exc:
        return noted(False, "NotSent", str(exc))
    return noted(True, "Applied", f"the station holds its {limit_w} W ChargePointMaxProfile")
