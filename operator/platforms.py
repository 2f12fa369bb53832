"""A namespace's platform. Its anchor, the Platform `chargeplane`, is applied by the
ChargingStation and Tariff handlers (owned by the namespace's Tariffs) and removed with the
namespace's last of them; while it exists, the namespace's loop applies everything the
platform is, again on every change and every `reconcile_interval` (what someone deletes or
edits comes back), and reads its stations' status back from the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import kopf
from kubernetes_asyncio.client import ApiException

from .builders import (
    OwnerReference,
    build_jwt_secret,
    build_platform,
    build_platform_anchor,
    gateway_replicas,
    owner_references,
)
from .constants import DATABASE_SECRET, DATABASE_URL_KEY, FIELD_MANAGER, PLATFORM_KIND, PLATFORM_NAME
from .databases import ensure_namespace_database
from .kube import apply, apply_status, create_if_absent, delete_if_present, read_secret_value
from .log import Log
from .metrics import measured
from .runtime import Runtime
from .stations import refresh_station_statuses
from .status import AVAILABLE, READY, ConditionSet


async def ensure_platform(runtime: Runtime, namespace: str, *, tariffs: Iterable[OwnerReference]) -> None:
    """The namespace's Platform, owned by its Tariffs; one API call only when those change."""
    owners = owner_references(tariffs)
    if runtime.applied_anchors.get(namespace) == owners:
        return
    await apply(runtime.kube, namespace, build_platform_anchor(owners))
    runtime.applied_anchors[namespace] = owners


async def remove_platform_if_unused(runtime: Runtime, namespace: str, *, stations: int, tariffs: int,
                                    logger: Log) -> None:
    """With the namespace's last ChargingStation and Tariff gone, the Platform goes, and the
    garbage collector takes everything it owns."""
    if stations or tariffs:
        return
    runtime.applied_anchors.pop(namespace, None)
    try:
        await delete_if_present(runtime.kube, namespace, PLATFORM_KIND, PLATFORM_NAME, logger)
    except ApiException as exc:  # e.g. the namespace itself is being deleted
        logger.info(f"the platform was not removed: {exc.status} {exc.reason}")


def _available(deployments: Iterable[Mapping[str, Any]]) -> tuple[bool, str, str]:
    short = [f"{d['metadata']['name']} {d.get('status', {}).get('availableReplicas', 0)}/{d['spec']['replicas']}"
             for d in deployments
             if d.get("status", {}).get("availableReplicas", 0) < d["spec"]["replicas"]]
    if short:
        return False, "ReplicasUnavailable", f"replicas available: {', '.join(short)}"
    return True, "ReplicasAvailable", "every service has its replicas available"


@measured("reconcile_platform")
async def reconcile_platform(runtime: Runtime, namespace: str, *, platform: kopf.Body, stations: int,
                             tariffs: int, logger: Log) -> None:
    """Apply the platform as the settings and the station count say, and say in the Platform's
    status what runs."""
    owner = kopf.build_owner_reference(platform, controller=True, block_owner_deletion=False)
    # before the Deployments whose pods read it; created once, never rotated
    await create_if_absent(runtime.kube, namespace, build_jwt_secret(secrets.token_urlsafe(48), owner=owner), logger)
    database_url = runtime.database_urls.get(namespace)
    if database_url is None:  # once in the operator's life per namespace
        known = await read_secret_value(runtime.kube, namespace, DATABASE_SECRET, DATABASE_URL_KEY)
        database_url = await ensure_namespace_database(runtime.settings.database_url, namespace, known_url=known,
                                                       logger=logger)
        runtime.database_urls[namespace] = database_url
    manifests = build_platform(settings=runtime.settings, stations=stations, owner=owner, database_url=database_url)
    applied = [await apply(runtime.kube, namespace, manifest) for manifest in manifests]
    conditions = ConditionSet(platform.get("status", {}).get("conditions", []), (AVAILABLE, READY),
                              generation=platform["metadata"].get("generation"))
    ok, reason, message = _available(a for a in applied if a["kind"] == "Deployment")
    conditions.note(AVAILABLE, ok, reason, message)
    conditions.note(READY, ok, "Applied" if ok else reason,
                    "the platform is applied and available" if ok else f"the platform is applied; {message}")
    status = {"version": runtime.settings.image.rpartition(":")[2], "stations": stations, "tariffs": tariffs,
              "gatewayReplicas": gateway_replicas(stations, runtime.settings),
              "observedGeneration": platform["metadata"].get("generation"), "conditions": conditions.owned()}
    if {key: platform.get("status", {}).get(key) for key in status} != status:
        await apply_status(runtime.kube, namespace, PLATFORM_KIND, PLATFORM_NAME, status, manager=FIELD_MANAGER)


async def run_namespace(runtime: Runtime, namespace: str, logger: Log) -> None:
    """A namespace's loop, while its Platform exists: every status_interval the status of its
    stations (one request to the gateway), and every reconcile_interval, or at once when a
    station or tariff changes it (Runtime.wake_platform), the platform applied again. Only the
    operator that leads its peers acts; a failed round is logged and the next one tries again."""
    wakeup = runtime.platform_wakeups.setdefault(namespace, asyncio.Event())
    loop = asyncio.get_running_loop()
    next_reconcile = loop.time()
    while (platform := runtime.platforms.get(namespace)) is not None:
        try:
            if await runtime.leads():
                if wakeup.is_set() or loop.time() >= next_reconcile:
                    wakeup.clear()
                    next_reconcile = loop.time() + runtime.settings.reconcile_interval
                    stations, tariffs = runtime.counts(namespace)
                    await reconcile_platform(runtime, namespace, platform=platform, stations=stations,
                                             tariffs=tariffs, logger=logger)
                await refresh_station_statuses(runtime, namespace=namespace, stations=runtime.stations(namespace),
                                               logger=logger)
        except Exception as exc:  # one failed round (the API, the platform) must not end the loop
            logger.warning(f"platform of {namespace}: {type(exc).__name__}: {exc}; trying again")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(runtime.settings.status_interval):
                await wakeup.wait()
