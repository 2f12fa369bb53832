"""Tariff: pushed into billing on every change; not let go while stations bill with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import kopf

from .builders import OwnerReference, billing_tariff_id, build_tariff_body
from .platform_api import PlatformRejected, PlatformUnavailable
from .platforms import ensure_platform
from .runtime import Runtime
from .stations import DEREGISTER_RETRIES
from .status import DELETABLE, SYNCED, energy_price_range, note_condition


async def apply_tariff(runtime: Runtime, *, namespace: str, name: str, spec: Mapping[str, Any],
                       status: Mapping[str, Any], generation: int | None,
                       platform_owners: Iterable[OwnerReference], stations: int,
                       patch_status: MutableMapping[str, Any], logger: kopf.Logger) -> None:
    await ensure_platform(runtime, namespace, owners=platform_owners, stations=stations, logger=logger)
    tariff_id = billing_tariff_id(namespace, name)
    patch_status["billingId"] = tariff_id
    patch_status["pricePerKwh"] = energy_price_range(spec)
    try:
        await runtime.platform.put_tariff(namespace, tariff_id, build_tariff_body(spec))
    except PlatformUnavailable as exc:
        note_condition(patch_status, status, SYNCED, False, "BillingUnavailable", str(exc), generation=generation)
        raise kopf.TemporaryError(f"waiting for billing: {exc}", delay=runtime.settings.retry_delay) from exc
    except PlatformRejected as exc:
        note_condition(patch_status, status, SYNCED, False, "Rejected", str(exc), generation=generation)
        raise kopf.PermanentError(f"billing rejected the tariff (fix the spec): {exc}") from exc
    note_condition(patch_status, status, SYNCED, True, "Synced", f"billing prices with tariff {tariff_id}",
                   generation=generation)
    logger.info(f"tariff {tariff_id} is in billing")


async def delete_tariff(runtime: Runtime, *, namespace: str, name: str, status: Mapping[str, Any],
                        generation: int | None, users: list[str], retry: int,
                        patch_status: MutableMapping[str, Any], logger: kopf.Logger) -> None:
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
        note_condition(patch_status, status, DELETABLE, False, "InUse", message, generation=generation)
        raise kopf.TemporaryError(message, delay=runtime.settings.retry_delay)


async def forget_tariff(runtime: Runtime, *, namespace: str, name: str, logger: kopf.Logger) -> None:
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
