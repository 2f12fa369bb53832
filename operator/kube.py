"""The operator's own Kubernetes calls, idempotent. What it makes is server-side applied under
a field manager: the API server keeps what the manifest says and removes what an earlier apply
said and this one does not (a dropped env var, a volume of TLS turned off), and an edit by
someone else is overwritten on the next apply. Exactly the verbs in rbac.RULES."""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from kubernetes_asyncio import config
from kubernetes_asyncio.client import (
    ApiClient,
    ApiException,
    AppsV1Api,
    Configuration,
    CoreV1Api,
    CustomObjectsApi,
    NetworkingV1Api,
    PolicyV1Api,
)

from .builders import Manifest
from .constants import API_VERSION, FIELD_MANAGER, GROUP, VERSION
from .log import Log

APPLY_PATCH = "application/apply-patch+yaml"
# plural of each custom kind the operator applies or writes the status of
CUSTOM_PLURALS = {"ChargingStation": "chargingstations", "Tariff": "tariffs", "Platform": "platforms"}


async def load_configuration() -> Configuration:
    """The pod's service account in a cluster, else the current kubeconfig context."""
    configuration = Configuration()
    if "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(client_configuration=configuration)
    return configuration


async def connection_info(configuration: Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials from the same configuration the operator's client uses."""
    # the loaders keep the token as "Bearer <token>"; in-cluster, reading it re-reads the rotating file
    token = await configuration.get_api_key_with_prefix("BearerToken")
    return kopf.ConnectionInfo(
        server=str(configuration.host),
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme="Bearer" if token else None,
        token=token.removeprefix("Bearer ") if token else None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


Call = Callable[..., Awaitable[Any]]


def _calls(api: ApiClient, kind: str) -> tuple[Call, Call, Call]:
    """(create, patch, delete) of a namespaced kind, each taking (name or body, namespace, ...)."""
    if kind in CUSTOM_PLURALS:
        custom, plural = CustomObjectsApi(api), CUSTOM_PLURALS[kind]

        async def create(namespace: str, body: Manifest) -> Any:
            return await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

        async def patch(name: str, namespace: str, body: Manifest, **options: Any) -> Any:
            return await custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body,
                                                               **options)

        async def delete(name: str, namespace: str) -> Any:
            return await custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

        return create, patch, delete
    core = CoreV1Api(api)
    by_kind: dict[str, tuple[Call, Call, Call]] = {
        "Deployment": (AppsV1Api(api).create_namespaced_deployment, AppsV1Api(api).patch_namespaced_deployment,
                       AppsV1Api(api).delete_namespaced_deployment),
        "Service": (core.create_namespaced_service, core.patch_namespaced_service, core.delete_namespaced_service),
        "Secret": (core.create_namespaced_secret, core.patch_namespaced_secret, core.delete_namespaced_secret),
        "NetworkPolicy": (NetworkingV1Api(api).create_namespaced_network_policy,
                          NetworkingV1Api(api).patch_namespaced_network_policy,
                          NetworkingV1Api(api).delete_namespaced_network_policy),
        "PodDisruptionBudget": (PolicyV1Api(api).create_namespaced_pod_disruption_budget,
                                PolicyV1Api(api).patch_namespaced_pod_disruption_budget,
                                PolicyV1Api(api).delete_namespaced_pod_disruption_budget),
    }
    if kind not in by_kind:
        raise ValueError(f"the operator makes no {kind}")
    return by_kind[kind]


def _as_dict(api: ApiClient, answer: Any) -> dict[str, Any]:
    return answer if isinstance(answer, dict) else api.sanitize_for_serialization(answer)


async def apply(api: ApiClient, namespace: str, manifest: Manifest, *, manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """Server-side apply (created if absent); the object as the API server now has it."""
    _, patch, _ = _calls(api, manifest["kind"])
    answer = await patch(manifest["metadata"]["name"], namespace, manifest, field_manager=manager, force=True,
                         _content_type=APPLY_PATCH)
    return _as_dict(api, answer)


async def apply_status(api: ApiClient, namespace: str, kind: str, name: str, status: Mapping[str, Any], *,
                       manager: str) -> None:
    """Server-side apply of a custom resource's status: `manager` owns exactly these fields, and
    in `conditions` (a list keyed by type) exactly these types; other writers' stay as they are."""
    body = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "status": dict(status)}
    try:
        # _content_type is taken (through **kwargs) by every call of the client, its stub says otherwise
        await CustomObjectsApi(api).patch_namespaced_custom_object_status(  # type: ignore[call-arg]
            GROUP, VERSION, namespace, CUSTOM_PLURALS[kind], name, body, field_manager=manager, force=True,
            _content_type=APPLY_PATCH)
    except ApiException as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to say about it
            raise


async def create_if_absent(api: ApiClient, namespace: str, manifest: Manifest, logger: Log) -> bool:
    """Create, or leave an existing object as it is (a generated password or key is never
    rotated); False if it existed."""
    create, _, _ = _calls(api, manifest["kind"])
    try:
        await create(namespace, manifest)
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    logger.info(f"created {manifest['kind']} {manifest['metadata']['name']}")
    return True


async def read_secret_value(api: ApiClient, namespace: str, name: str, key: str) -> str | None:
    """One value of a Secret, or None when the Secret or the key is missing."""
    try:
        secret = await CoreV1Api(api).read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    if secret.data and key in secret.data:
        return base64.b64decode(secret.data[key]).decode()
    return None


async def delete_if_present(api: ApiClient, namespace: str, kind: str, name: str, logger: Log) -> None:
    _, _, delete = _calls(api, kind)
    try:
        await delete(name, namespace)
        logger.info(f"deleted {kind} {name}")
    except ApiException as exc:
        if exc.status != 404:
            raise
