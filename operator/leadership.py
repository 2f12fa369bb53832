"""Whether this operator is the one that acts, as kopf's peering decides it.

kopf pauses its own handlers while a peer of a higher (or the same) priority is alive in the
ClusterKopfPeering. The namespaces' platform loops are the operator's own tasks, not kopf
handlers (kopf's daemons and timers put a finalizer on their resource, which would keep a
Platform Terminating after `helm uninstall` removed the operator's RBAC), so each of their
rounds asks the same question of the same peering object first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kubernetes_asyncio.client import ApiClient, ApiException, CustomObjectsApi

PEERING_GROUP, PEERING_VERSION, PEERING_PLURAL = "kopf.dev", "v1", "clusterkopfpeerings"


def leads(peers: Mapping[str, Mapping[str, Any]], *, identity: str, priority: int, now: datetime) -> bool:
    """kopf's rule: act while no other live peer has a priority as high as this one's. `peers` is
    the peering object's status: identity -> {priority, lastseen, lifetime}."""
    for other, info in peers.items():
        if other == identity:
            continue
        deadline = datetime.fromisoformat(str(info["lastseen"])) + timedelta(seconds=int(info.get("lifetime", 60)))
        if deadline > now and int(info.get("priority", 0)) >= priority:
            return False
    return True


async def is_leader(kube: ApiClient, *, peering: str, identity: str, priority: int, now: datetime) -> bool:
    """True when running standalone (no peering), or when `leads` says so of the peering object."""
    if not peering:
        return True
    try:
        body = await CustomObjectsApi(kube).get_cluster_custom_object(PEERING_GROUP, PEERING_VERSION,
                                                                       PEERING_PLURAL, peering)
    except ApiException as exc:
        if exc.status == 404:  # kopf itself refuses to run without it (mandatory peering)
            return False
        raise
    return leads(body.get("status") or {}, identity=identity, priority=priority, now=now)


async def ensure_peering_object(kube: ApiClient, name: str) -> None:
    """The ClusterKopfPeering the operators of this release share, made here when missing, since
    kopf refuses to run without it. The chart cannot make it: its kind is served only once the
    release's own CRDs exist. It stays after `helm uninstall` with the CRDs (crds.keep), a list of
    operators long gone, which a reinstall takes over."""
    body = {"apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}", "kind": "ClusterKopfPeering",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "chargeplane"}}}
    try:
        await CustomObjectsApi(kube).create_cluster_custom_object(PEERING_GROUP, PEERING_VERSION, PEERING_PLURAL,
                                                                  body)
    except ApiException as exc:
        if exc.status != 409:
            raise
