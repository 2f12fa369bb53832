"""Tariff: pushed into billing on every change; not let go while stations bill with it, unless
it is annotated to go at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from .builders import billing_tariff_id, build_tariff_body
from .constants import FIELD_MANAGER
from .kube import apply_status
from .log import Log
from .metrics import measured
from .platform_api import PlatformRejected, PlatformUnavailable
from .runtime import Runtime
from .stations import DEREGISTER_RETRIES
from .status import DELETABLE, READY, SYNCED, ConditionSet, energy_price_range

KIND = "Tariff"
CONDITIONS = (SYNCED, DELETABLE, READY)


@measured("apply_tariff")
async def apply_tariff(runtime: Runtime, *, namespace: str, name: str, spec: Mapping[str, Any],
                       status: Mapping[str, Any], generation: int | None, logger: Log) -> None:
    tariff_id = billing_tariff_id(namespace, name)
    conditions = ConditionSet(status.get("conditions", []), CONDITIONS, generation=generation)
    conditions.drop(DELETABLE)  # only a deletion asks it
    try:
        await runtime.platform.put_tariff(namespace, tariff_id, build_tariff_body(spec))
    except PlatformUnavailable as exc:
        conditions.note(SYNCED, False, "BillingUnavailable", str(exc))
        raise kopf.TemporaryError(f"waiting for billing: {exc}", delay=runtime.settings.retry_delay) from exc
    except PlatformRejected as exc:
        conditions.note(SYNCED, False, "Rejected", str(exc))
        raise kopf.PermanentError(f"billing rejected the tariff (fix the spec): {exc}") from exc
    else:
        conditions.note(SYNCED, True, "Synced", f"billing prices with tariff {tariff_id}")
        logger.info(f"tariff {tariff_id} is in billing")
    finally:
        synced = conditions.get(SYNCED)
        ready = synced is not None and synced["status"] == "True"
        conditions.note(READY, ready, "Synced" if ready else (synced or {}).get("reason", "NotSynced"),
                        "the tariff prices sessions in billing" if ready else "billing does not have this tariff yet")
        await apply_status(runtime.kube, namespace, KIND, name, {
            "billingId": tariff_id, "pricePerKwh": energy_price_range(spec), "observedGeneration": generation,
            "conditions": conditions.owned()}, manager=FIELD_MANAGER)


@measured("delete_tariff")
async def delete_tariff(runtime: Runtime, *, namespace: str, name: str, status: Mapping[str, Any],
                        generation: int | None, users: list[str], retry: int, logger: Log) -> None:
    """Remove the tariff from billing once no ChargingStation refers to it and billing has no
    station bound to it; until then the Tariff stays (Terminating) and says why."""
    tariff_id = billing_tariff_id(namespace, name)
    try:
        users = users or await runtime.platform.delete_tariff(namespace, tariff_id)
    except PlatformUnavailable as exc:
        if retry < DEREGISTER_RETRIES:
            raise kopf.TemporaryError(f"waiting for billing to delete {tariff_id}: {exc}",
                                      delay=runtime.settings.retry_delay) from exc
        logger.warning(f"billing stayed unreachable; tariff {tariff_id} was left in it: {exc}")
        return
    if users:
        message = f"stations still bill with this tariff: {', '.join(sorted(users))}"
        conditions = ConditionSet(status.get("conditions", []), CONDITIONS, generation=generation)
        conditions.note(DELETABLE, False, "InUse", message)
        conditions.note(READY, False, "Deleting", f"the tariff goes once no station bills with it; {message}")
        await apply_status(runtime.kube, namespace, KIND, name, {
            "billingId": tariff_id, "pricePerKwh": status.get("pricePerKwh", ""), "observedGeneration": generation,
            "conditions": conditions.owned()}, manager=FIELD_MANAGER)
        raise kopf.TemporaryError(message, delay=runtime.settings.retry_delay)


@measured("forget_tariff")
async def forget_tariff(runtime: Runtime, *, namespace: str, name: str, logger: Log) -> None:
    """A Tariff without deletion protection is gone already: remove it from billing if billing
    can be reached and no station bills with it, else leave it there (billing keeps pricing its
    stations' sessions with it)."""
    tariff_id = billing_tariff_id(namespace, name)
    try:
        users = await runtime.platform.delete_tariff(namespace, tariff_id)
    except (PlatformUnavailable, PlatformRejected) as exc:
        logger.info(f"tariff {tariff_id} was left in billing: {exc}")
        return
    if users:
        logger.info(f"tariff {tariff_id} was left in billing: stations bill with it: {', '.join(sorted(users))}")
