"""Every kopf registration of the operator, and nothing else: each handler hands off to a plain
function in stations.py, tariffs.py or platforms.py."""

from __future__ import annotations

from typing import Any

import kopf

from chargeplane.common.logs import get_logger

from . import platforms, stations, tariffs
from .builders import OwnerReference
from .constants import DELETION_PROTECTION, GROUP, PLATFORM_NAME, PLATFORMS, STATIONS, TARIFFS, VERSION
from .kube import connection_info
from .leadership import ensure_peering_object
from .metrics import count_resources
from .runtime import configure_kopf, open_runtime
from .settings import OperatorSettings
from .stations import StationEntry

TariffIndex = kopf.Index[str, OwnerReference]
StationIndex = kopf.Index[str, StationEntry]
# kopf passes a handler the indexes it names as keyword arguments, but its handler protocols list
# only the arguments it always passes: a handler that names an index is "incompatible" to mypy
# (the `type: ignore[arg-type]` on such handlers' decorators).


def _namespaced(namespace: str | None) -> str:
    """kopf types `namespace` for cluster-scoped resources too; ours are all namespaced."""
    if namespace is None:
        raise kopf.PermanentError("a ChargePlane resource without a namespace")
    return namespace


def _not_deleting(meta: kopf.Meta, **_: Any) -> bool:
    return not meta.get("deletionTimestamp")


def _protected(annotations: kopf.Annotations, **_: Any) -> bool:
    """kopf holds a resource with its finalizer only while a non-optional deletion handler matches it."""
    return annotations.get(DELETION_PROTECTION, "true") != "false"


def _the_platform(name: str, **_: Any) -> bool:
    return name == PLATFORM_NAME


# ----- operator lifecycle -----------------------------------------------------------------------

@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """The embedding code may put `settings` (OperatorSettings) and `kube_configuration` in the memo."""
    configure_kopf(settings)
    memo.runtime = await open_runtime(memo.get("settings") or OperatorSettings(), memo.get("kube_configuration"),
                                      identity=memo.get("identity", ""), priority=memo.get("priority", 0))
    if memo.runtime.settings.peering:  # before kopf starts peering, which needs the object
        await ensure_peering_object(memo.runtime.kube, memo.runtime.settings.peering)


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
def tariff_index(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, OwnerReference]:
    namespace = _namespaced(namespace)
    return {namespace: kopf.build_owner_reference(body, controller=False, block_owner_deletion=False)}


@kopf.index(GROUP, VERSION, STATIONS, when=_not_deleting)
def station_index(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                  **_: Any) -> dict[str, StationEntry]:
    namespace = _namespaced(namespace)
    return {namespace: StationEntry(name, dict(spec), dict(status), meta.get("generation"))}


def _tariff_names(namespace: str, tariff_index: TariffIndex) -> set[str]:
    return {owner["name"] for owner in tariff_index.get(namespace, [])}


def _counts(namespace: str, station_index: StationIndex, tariff_index: TariffIndex) -> tuple[int, int]:
    return len(station_index.get(namespace, [])), len(tariff_index.get(namespace, []))


# ----- ChargingStation ---------------------------------------------------------------------------

@kopf.on.resume(GROUP, VERSION, STATIONS)
@kopf.on.create(GROUP, VERSION, STATIONS)
@kopf.on.update(GROUP, VERSION, STATIONS, field="spec")  # type: ignore[arg-type]
async def apply_station(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                        body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, tariff_index: TariffIndex,
                        **_: Any) -> None:
    namespace = _namespaced(namespace)
    await platforms.ensure_platform(memo.runtime, namespace, tariffs=tariff_index.get(namespace, []))
    memo.runtime.wake_platform(namespace)  # the gateway's replicas follow the station count
    await stations.apply_station(
        memo.runtime, namespace=namespace, name=name, spec=spec, status=status, generation=meta.get("generation"),
        owner=kopf.build_owner_reference(body, controller=True, block_owner_deletion=False),
        tariffs=_tariff_names(namespace, tariff_index), logger=logger,
    )


@kopf.on.delete(GROUP, VERSION, STATIONS)  # type: ignore[arg-type]
async def delete_station(namespace: str | None, spec: kopf.Spec, retry: int, memo: kopf.Memo, logger: kopf.Logger,
                         station_index: StationIndex, tariff_index: TariffIndex, **_: Any) -> None:
    namespace = _namespaced(namespace)
    await stations.delete_station(memo.runtime, namespace=namespace, spec=spec, retry=retry, logger=logger)
    stations_left, tariffs_left = _counts(namespace, station_index, tariff_index)
    await platforms.remove_platform_if_unused(memo.runtime, namespace, stations=stations_left, tariffs=tariffs_left,
                                              logger=logger)
    memo.runtime.wake_platform(namespace)


# ----- Tariff ------------------------------------------------------------------------------------

@kopf.on.resume(GROUP, VERSION, TARIFFS)
@kopf.on.create(GROUP, VERSION, TARIFFS)
@kopf.on.update(GROUP, VERSION, TARIFFS, field="spec")  # type: ignore[arg-type]
async def apply_tariff(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                       memo: kopf.Memo, logger: kopf.Logger, tariff_index: TariffIndex, **_: Any) -> None:
    namespace = _namespaced(namespace)
    await platforms.ensure_platform(memo.runtime, namespace, tariffs=tariff_index.get(namespace, []))
    await tariffs.apply_tariff(memo.runtime, namespace=namespace, name=name, spec=spec, status=status,
                               generation=meta.get("generation"), logger=logger)


@kopf.on.delete(GROUP, VERSION, TARIFFS, when=_protected)  # type: ignore[arg-type]
async def delete_tariff(namespace: str | None, name: str, status: kopf.Status, meta: kopf.Meta, retry: int,
                        memo: kopf.Memo, logger: kopf.Logger, station_index: StationIndex,
                        tariff_index: TariffIndex, **_: Any) -> None:
    namespace = _namespaced(namespace)
    users = [s.name for s in station_index.get(namespace, []) if s.spec.get("tariffRef", {}).get("name") == name]
    await tariffs.delete_tariff(memo.runtime, namespace=namespace, name=name, status=status,
                                generation=meta.get("generation"), users=users, retry=retry, logger=logger)
    await _after_tariff_deletion(memo, namespace, logger, station_index, tariff_index)


@kopf.on.delete(GROUP, VERSION, TARIFFS, when=kopf.not_(_protected), optional=True)  # type: ignore[arg-type]
async def forget_unprotected_tariff(namespace: str | None, name: str, memo: kopf.Memo, logger: kopf.Logger,
                                    station_index: StationIndex, tariff_index: TariffIndex, **_: Any) -> None:
    namespace = _namespaced(namespace)
    await tariffs.forget_tariff(memo.runtime, namespace=namespace, name=name, logger=logger)
    await _after_tariff_deletion(memo, namespace, logger, station_index, tariff_index)


async def _after_tariff_deletion(memo: kopf.Memo, namespace: str, logger: kopf.Logger, station_index: StationIndex,
                                 tariff_index: TariffIndex) -> None:
    """The Platform is owned by the remaining Tariffs, or goes with the namespace's last resource."""
    stations_left, tariffs_left = _counts(namespace, station_index, tariff_index)
    if stations_left or tariffs_left:
        await platforms.ensure_platform(memo.runtime, namespace, tariffs=tariff_index.get(namespace, []))
    else:
        await platforms.remove_platform_if_unused(memo.runtime, namespace, stations=0, tariffs=0, logger=logger)


# ----- Platform: one per namespace, made by the handlers above, kept by its loop ---------------

@kopf.on.event(GROUP, VERSION, PLATFORMS, when=_the_platform)  # type: ignore[arg-type]
async def track_platform(type: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo,
                         station_index: StationIndex, tariff_index: TariffIndex, **_: Any) -> None:
    """An event handler, not a daemon or timer: those would put a finalizer on the Platform, which
    nobody could remove once `helm uninstall` has taken the operator's RBAC. A Platform someone
    deleted while its namespace still needs it (or the garbage collector did, its Tariffs gone
    while stations remain) is made again."""
    namespace = _namespaced(namespace)
    runtime = memo.runtime
    runtime.station_index, runtime.tariff_index = station_index, tariff_index
    if type == "DELETED":
        runtime.forget_platform(namespace)
        runtime.applied_anchors.pop(namespace, None)
        if any(_counts(namespace, station_index, tariff_index)):
            await platforms.ensure_platform(runtime, namespace, tariffs=tariff_index.get(namespace, []))
    else:
        runtime.keep_loop(namespace, body,
                          lambda: platforms.run_namespace(runtime, namespace, get_logger(f"platform.{namespace}")))
    count_resources(station_index, tariff_index, len(runtime.platforms))
