"""A namespace's platform: the Deployments and Services of the services, made to match the
operator's settings and the namespace's resources."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import kopf

from .builders import OwnerReference, build_jwt_secret, build_platform
from .kube import create_or_adopt, create_or_patch
from .runtime import Runtime


async def ensure_platform(runtime: Runtime, namespace: str, *, owners: Iterable[OwnerReference], stations: int,
                          logger: kopf.Logger) -> None:
    """Create or update the namespace's platform (its Secrets, Deployments and Services), owned
    by every Tariff and ChargingStation in it. With no owner left there is nothing to do: the
    garbage collector removes the platform."""
    owners = list(owners)
    if not owners:
        return
    manifests = build_platform(settings=runtime.settings, stations=stations, owners=owners)
    if runtime.applied_platforms.get(namespace) == manifests:
        return
    # before the Deployments whose pods read it
    await create_or_adopt(runtime.kube, namespace, build_jwt_secret(secrets.token_urlsafe(48), owners=owners),
                          logger)
    for manifest in manifests:
        await create_or_patch(runtime.kube, namespace, manifest, logger)
    runtime.applied_platforms[namespace] = manifests
