"""What the handlers share for the operator's lifetime (kept in kopf's memo): settings and clients."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import kopf
from kubernetes_asyncio.client import ApiClient, Configuration
from opentelemetry.instrumentation.aiohttp_client import create_trace_config

from .constants import FINALIZER, GROUP
from .kube import load_configuration
from .platform_api import PlatformClient
from .settings import OperatorSettings

PLATFORM_REQUEST_TIMEOUT = 10.0


@dataclass
class Runtime:
    settings: OperatorSettings
    kube: ApiClient
    http: aiohttp.ClientSession
    platform: PlatformClient
    # namespace -> the platform manifests last applied there, so that the next station of a
    # namespace costs no API call unless it changes them (e.g. the gateway's replicas)
    applied_platforms: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    async def close(self) -> None:
        await self.http.close()
        await self.kube.close()


async def open_runtime(settings: OperatorSettings, kube_configuration: Configuration | None) -> Runtime:
    """`kube_configuration` None: the pod's service account, else the current kubeconfig context."""
    kube = ApiClient(kube_configuration or await load_configuration())
    # Only the calls into the platform are traced: the Kubernetes API's watches last minutes.
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=PLATFORM_REQUEST_TIMEOUT),
        trace_configs=[create_trace_config()],
    )
    return Runtime(settings, kube, http, PlatformClient(http, settings.service_url_template))


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    """kopf's own settings: its state in annotations under our prefix, so that `status` holds
    only what the CRD schema declares (the API server prunes anything else)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration")
    # Status conditions tell users what is wrong (kubectl get/describe), the logs tell the
    # rest: no Kubernetes Events, so the ClusterRole needs no events permission.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 30
    # A status timer still reading the platform when its station is deleted holds the finalizer
    # until kopf looks again, which is a minute later by default unless the resource changes.
    settings.background.instant_exit_timeout = 1.0
    settings.background.cancellation_polling = 1.0
