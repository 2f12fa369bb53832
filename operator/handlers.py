"""Every kopf registration of the operator, and nothing else: each handler hands off to a plain
function in stations.py, tariffs.py or runtime.py."""

from __future__ import annotations

from typing import Any

import kopf

from . import stations, tariffs
from .builders import OwnerReference
from .constants import DELETION_PROTECTION, GROUP, STATIONS, TARIFFS, VERSION
from .kube import connection_info
from .runtime import configure_kopf, open_runtime
from .settings import OperatorSettings

# kopf fixes a timer's interval when the timer is registered, i.e. when this module is imported.
STATUS_INTERVAL = OperatorSettings().status_interval


def _not_deleting(meta: kopf.Meta, **_: Any) -> bool:
    return not meta.get("deletionTimestamp")


def _protected(annotations: kopf.Annotations, **_: Any) -> bool:
    """kopf holds a resource with its finalizer only while a non-optional deletion handler matches it."""
    return annotations.get(DELETION_PROTECTION, "true") != "false"


# ----- operator lifecycle -----------------------------------------------------------------------

@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """The embedding code may put `settings` (OperatorSettings) and `kube_configuration` in the memo."""
    configure_kopf(settings)
    memo.runtime = await open_runtime(memo.get("settings") or OperatorSettings(), memo.get("kube_configuration"))


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    await memo.runtime.close()


@kopf.on.login()
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    return await connection_info(memo.runtime.kube.configuration)


# ----- indexes: a namespace's resources, without asking the API ----------------------------------
# Owner references never block the owner's deletion: blockOwnerDeletion=true would need `update`
# on the owner's finalizers wherever OwnerReferencesPermissionEnforcement is on (OpenShift).

@kopf.index(GROUP, VERSION, TARIFFS, when=_not_deleting)
def tariff_owners(namespace: str, body: kopf.Body, **_: Any) -> dict[str, OwnerReference]:
    return {namespace: kopf.build_owner_reference(body, controller=False, block_owner_deletion=False)}


@kopf.index(GROUP, VERSION, STATIONS, when=_not_deleting)
def station_owners(namespace: str, body: kopf.Body, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    owner = kopf.build_owner_reference(body, controller=False, block_owner_deletion=False)
    return {namespace: {"owner": owner, "tariff": spec.get("tariffRef", {}).get("name")}}


def _platform_owners(namespace: str, tariff_owners: kopf.Index[str, OwnerReference],
                     station_owners: kopf.Index[str, dict[str, Any]]) -> list[OwnerReference]:
    return [*tariff_owners.get(namespace, []), *(s["owner"] for s in station_owners.get(namespace, []))]


# ----- ChargingStation ---------------------------------------------------------------------------

@kopf.on.resume(GROUP, VERSION, STATIONS)
@kopf.on.create(GROUP, VERSION, STATIONS)
@kopf.on.update(GROUP, VERSION, STATIONS, field="spec")
async def apply_station(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                        tariff_owners: kopf.Index[str, OwnerReference],
                        station_owners: kopf.Index[str, dict[str, Any]], **_: Any) -> None:
    await stations.apply_station(
        memo.runtime, namespace=namespace, name=name, spec=spec, status=status, generation=meta.get("generation"),
        owner=kopf.build_owner_reference(body, controller=True, block_owner_deletion=False),
        platform_owners=_platform_owners(namespace, tariff_owners, station_owners),
        stations=len(station_owners.get(namespace, [])),
        tariffs={owner["name"] for owner in tariff_owners.get(namespace, [])},
        patch_status=patch.status, logger=logger,
    )


@kopf.on.delete(GROUP, VERSION, STATIONS)
async def delete_station(namespace: str, spec: kopf.Spec, retry: int, memo: kopf.Memo, logger: kopf.Logger,
                         tariff_owners: kopf.Index[str, OwnerReference],
                         station_owners: kopf.Index[str, dict[str, Any]], **_: Any) -> None:
    await stations.delete_station(
        memo.runtime, namespace=namespace, spec=spec, retry=retry,
        platform_owners=_platform_owners(namespace, tariff_owners, station_owners),
        stations=len(station_owners.get(namespace, [])), logger=logger,
    )


@kopf.timer(GROUP, VERSION, STATIONS, interval=STATUS_INTERVAL, when=_not_deleting)
async def refresh_station_status(namespace: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                                 patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                                 stopped: kopf.DaemonStopped, **_: Any) -> None:
    await stations.refresh_station_status(
        memo.runtime, namespace=namespace, spec=spec, status=status, generation=meta.get("generation"),
        # kopf may still run a timer after the cleanup closed the clients
        stopping=lambda: bool(stopped) or memo.runtime.http.closed, patch_status=patch.status, logger=logger,
    )


# ----- Tariff ------------------------------------------------------------------------------------

@kopf.on.resume(GROUP, VERSION, TARIFFS)
@kopf.on.create(GROUP, VERSION, TARIFFS)
@kopf.on.update(GROUP, VERSION, TARIFFS, field="spec")
async def apply_tariff(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                       patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                       tariff_owners: kopf.Index[str, OwnerReference],
                       station_owners: kopf.Index[str, dict[str, Any]], **_: Any) -> None:
    await tariffs.apply_tariff(
        memo.runtime, namespace=namespace, name=name, spec=spec, status=status, generation=meta.get("generation"),
        platform_owners=_platform_owners(namespace, tariff_owners, station_owners),
        stations=len(station_owners.get(namespace, [])), patch_status=patch.status, logger=logger,
    )


@kopf.on.delete(GROUP, VERSION, TARIFFS, when=_protected)
async def delete_tariff(namespace: str, name: str, status: kopf.Status, meta: kopf.Meta, retry: int,
                        patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                        station_owners: kopf.Index[str, dict[str, Any]], **_: Any) -> None:
    users = [s["owner"]["name"] for s in station_owners.get(namespace, []) if s["tariff"] == name]
    await tariffs.delete_tariff(
        memo.runtime, namespace=namespace, name=name, status=status, generation=meta.get("generation"),
        users=users, retry=retry, patch_status=patch.status, logger=logger,
    )


@kopf.on.delete(GROUP, VERSION, TARIFFS, when=kopf.not_(_protected), optional=True)
async def forget_unprotected_tariff(namespace: str, name: str, memo: kopf.Memo, logger: kopf.Logger,
                                    **_: Any) -> None:
    await tariffs.forget_tariff(memo.runtime, namespace=namespace, name=name, logger=logger)
