"""The operator's own Kubernetes calls (children of its resources), idempotent: a create that
finds the object patches it, a delete that finds nothing is done. Exactly the verbs in rbac.RULES."""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable
from typing import Any

import kopf
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, ApiException, AppsV1Api, Configuration, CoreV1Api

from .builders import Manifest

# Desired lists (env, ports, ownerReferences) replace what is there, as the builders mean them:
# a strategic merge would keep an env var or an owner that the desired state dropped.
MERGE_PATCH = "application/merge-patch+json"


async def load_configuration() -> Configuration:
    """The pod's service account in a cluster, else the current kubeconfig context."""
    configuration = Configuration()
    if "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)  # re-reads its rotating token
    else:
        await config.load_kube_config(client_configuration=configuration)
    return configuration


async def connection_info(configuration: Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials from the same configuration the operator's client uses."""
    # the loaders keep the token as "Bearer <token>"; in-cluster, reading it re-reads the rotating file
    token = await configuration.get_api_key_with_prefix("BearerToken")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme="Bearer" if token else None,
        token=token.removeprefix("Bearer ") if token else None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def _calls(api: ApiClient, kind: str) -> tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]],
                                                 Callable[..., Awaitable[Any]]]:
    """(create, patch, delete) of a namespaced kind."""
    if kind == "Deployment":
        apps = AppsV1Api(api)
        return apps.create_namespaced_deployment, apps.patch_namespaced_deployment, apps.delete_namespaced_deployment
    core = CoreV1Api(api)
    if kind == "Service":
        return core.create_namespaced_service, core.patch_namespaced_service, core.delete_namespaced_service
    if kind == "Secret":
        return core.create_namespaced_secret, core.patch_namespaced_secret, core.delete_namespaced_secret
    raise ValueError(f"the operator makes no {kind}")


async def create_if_absent(api: ApiClient, namespace: str, manifest: Manifest, logger: kopf.Logger) -> bool:
    """Create, or leave an existing object as it is (a generated password is never rotated);
    False if it existed."""
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
    # an API server folds stringData into data; an emulated one (kmock) may keep it as written
    string_data = getattr(secret, "string_data", None) or {}
    value = string_data.get(key)
    return str(value) if value is not None else None


async def create_or_patch(api: ApiClient, namespace: str, manifest: Manifest, logger: kopf.Logger) -> None:
    if not await create_if_absent(api, namespace, manifest, logger):
        _, patch, _ = _calls(api, manifest["kind"])
        await patch(manifest["metadata"]["name"], namespace, manifest, _content_type=MERGE_PATCH)


async def create_or_adopt(api: ApiClient, namespace: str, manifest: Manifest, logger: kopf.Logger) -> None:
    """Create; an existing object keeps its content and only takes the manifest's labels and
    owners (a generated key is never rotated, yet goes with the platform's last owner)."""
    if not await create_if_absent(api, namespace, manifest, logger):
        _, patch, _ = _calls(api, manifest["kind"])
        metadata = {key: manifest["metadata"][key] for key in ("labels", "ownerReferences")}
        await patch(manifest["metadata"]["name"], namespace, {"metadata": metadata}, _content_type=MERGE_PATCH)


async def delete_if_present(api: ApiClient, namespace: str, kind: str, name: str, logger: kopf.Logger) -> None:
    _, _, delete = _calls(api, kind)
    try:
        await delete(name, namespace)
        logger.info(f"deleted {kind} {name}")
    except ApiException as exc:
        if exc.status != 404:
            raise
