"""What the handlers and the namespaces' loops share for the operator's lifetime (kept in
kopf's memo): settings, clients, who this operator is among its peers, and the loops."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import secrets
import socket
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from kubernetes_asyncio.client import ApiClient, Configuration
from opentelemetry.instrumentation.aiohttp_client import create_trace_config

from .constants import FINALIZER, GROUP
from .kube import load_configuration
from .leadership import is_leader
from .metrics import serving_metrics
from .platform_api import PlatformClient
from .settings import OperatorSettings

PLATFORM_REQUEST_TIMEOUT = 10.0


def operator_identity() -> str:
    """How this operator names itself among its peers: its pod (POD_ID, from the chart), else
    who runs it where, when, and a random part (two runs never share one)."""
    if pod := os.environ.get("POD_ID"):
        return pod
    started = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"{getpass.getuser()}@{socket.gethostname()}/{started}/{secrets.token_hex(2)}"


@dataclass
class Runtime:
    settings: OperatorSettings
    kube: ApiClient
    http: aiohttp.ClientSession
    platform: PlatformClient
    # this operator among its peers (kopf.run was given the same)
    identity: str = ""
    priority: int = 0
    # namespace -> the owners of the Platform last applied there, so that the next station of a
    # namespace costs no API call unless it changes them
    applied_anchors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # namespace -> set when its platform should be applied again now (a station came or went)
    platform_wakeups: dict[str, asyncio.Event] = field(default_factory=dict)

    # namespace -> its Platform as last seen, and the loop that keeps it
    platforms: dict[str, kopf.Body] = field(default_factory=dict)
    loops: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # namespace -> its platform's database URL (its own role and database, made once)
    database_urls: dict[str, str] = field(default_factory=dict)
    # what closes with the runtime (the metrics server)
    exits: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    # kopf's indexes (live views) of the namespaces' ChargingStations and Tariffs
    station_index: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    tariff_index: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def wake_platform(self, namespace: str) -> None:
        if event := self.platform_wakeups.get(namespace):
            event.set()

    def counts(self, namespace: str) -> tuple[int, int]:
        """(ChargingStations, Tariffs) of the namespace, not counting those being deleted."""
        return len(self.station_index.get(namespace, [])), len(self.tariff_index.get(namespace, []))

    def stations(self, namespace: str) -> list[Any]:
        return list(self.station_index.get(namespace, []))

    async def leads(self) -> bool:
        return await is_leader(self.kube, peering=self.settings.peering, identity=self.identity,
                               priority=self.priority, now=datetime.now(UTC))

    def keep_loop(self, namespace: str, platform: kopf.Body,
                  loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Remember the namespace's Platform and make sure its loop runs."""
        self.platforms[namespace] = platform
        task = self.loops.get(namespace)
        if task is None or task.done():
            self.loops[namespace] = asyncio.create_task(loop(), name=f"platform {namespace}")

    def forget_platform(self, namespace: str) -> None:
        """The Platform is gone: its loop ends (it stops at its next round)."""
        self.platforms.pop(namespace, None)
        self.wake_platform(namespace)

    async def close(self) -> None:
        await self.exits.aclose()
        for task in self.loops.values():
            task.cancel()
        await asyncio.gather(*self.loops.values(), return_exceptions=True)
        await self.http.close()
        await self.kube.close()


async def open_runtime(settings: OperatorSettings, kube_configuration: Configuration | None, *,
                       identity: str = "", priority: int = 0) -> Runtime:
    """`kube_configuration` None: the pod's service account, else the current kubeconfig context."""
    kube = ApiClient(kube_configuration or await load_configuration())
    # Only the calls into the platform are traced: the Kubernetes API's watches last minutes.
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=PLATFORM_REQUEST_TIMEOUT),
        trace_configs=[create_trace_config()],
    )
    runtime = Runtime(settings, kube, http, PlatformClient(http, settings.service_url_template), identity, priority)
    await runtime.exits.enter_async_context(serving_metrics(settings.metrics_port))
    return runtime


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
    # Of several operators (replicas, a local run beside the cluster's), the one of the highest
    # priority acts; the others pause. A missing peering object is an error, not a silent
    # standalone run.
    settings.peering.mandatory = True
