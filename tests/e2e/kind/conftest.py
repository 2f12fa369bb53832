"""The kind suite's cluster: the one in KUBECONFIG, and only if it is a kind test cluster.

Without one the suite skips with one line that says what it needs; `make e2e` sets
CHARGEPLANE_E2E_REQUIRE_CLUSTER, which turns that skip into a failure (asking for the
suite and running none of it is not a pass).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

RELEASE = "chargeplane"
# Test clusters only, as crate-operator's suite insists: never someone's real cluster.
TEST_CONTEXT_PREFIX = "kind-"
NEEDS = "the k8s suite needs a kind cluster in KUBECONFIG (`make kind-up`, then `make e2e`)"


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CHARGEPLANE_E2E_REQUIRE_CLUSTER"):
        pytest.fail(f"{NEEDS}: {reason}", pytrace=False)
    pytest.skip(f"{NEEDS}: {reason}")


@dataclass(frozen=True)
class Cluster:
    context: str
    namespace: str

    def _kubectl_args(self, *args: str) -> list[str]:
        # the context is named on every call: nothing switches it under a running suite
        return ["kubectl", "--context", self.context, "--namespace", self.namespace, *args]

    async def kubectl(self, *args: str, stdin: str | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            *self._kubectl_args(*args), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 180)
        assert process.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode()

    async def apply(self, *resources: dict[str, Any]) -> None:
        await self.kubectl("apply", "-f", "-", stdin="\n".join(json.dumps(r) for r in resources))

    async def delete(self, kind: str, name: str) -> None:
        await self.kubectl("delete", kind, name, "--ignore-not-found", "--timeout=120s")

    async def printed_row(self, kind: str, name: str) -> list[str]:
        """The words of the object's row as `kubectl get` prints it to a user."""
        return (await self.kubectl("get", kind, name, "--no-headers")).split()

    @asynccontextmanager
    async def port_forward(self, target: str, port: int) -> AsyncIterator[str]:
        """http://127.0.0.1:<free port> forwarded to the target's port, while the block runs."""
        process = await asyncio.create_subprocess_exec(
            *self._kubectl_args("port-forward", "--address", "127.0.0.1", target, f":{port}"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            assert process.stdout is not None
            first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            local = re.search(r"127\.0\.0\.1:(\d+)", first)  # "Forwarding from 127.0.0.1:NNNNN -> port"
            assert local, f"kubectl port-forward {target}: {first}"
            yield f"http://127.0.0.1:{local[1]}"
        finally:
            process.terminate()
            await process.wait()


@pytest.fixture(scope="session")
def kube_context() -> str:
    if not os.environ.get("KUBECONFIG"):
        unavailable("KUBECONFIG is not set")
    if shutil.which("kubectl") is None:
        unavailable("kubectl is not on PATH")
    current = subprocess.run(["kubectl", "config", "current-context"], capture_output=True, text=True, timeout=30)
    context = current.stdout.strip()
    if current.returncode != 0 or not context:
        unavailable(f"no current context ({current.stderr.strip()})")
    if not context.startswith(TEST_CONTEXT_PREFIX):
        unavailable(f"refusing context {context!r}; it must start with {TEST_CONTEXT_PREFIX!r}")
    ready = subprocess.run(["kubectl", "--context", context, "get", "--raw", "/readyz", "--request-timeout=5s"],
                           capture_output=True, text=True, timeout=30)
    if ready.returncode != 0:
        unavailable(f"context {context!r} does not answer ({ready.stderr.strip()})")
    return context


@pytest.fixture(scope="session")
def cluster(kube_context: str, helm: Path, repo_root: Path) -> Cluster:
    """The chart installed (or upgraded) as `make kind-up` installs it; the image must be loaded."""
    namespace = os.environ.get("CHARGEPLANE_NAMESPACE", "chargeplane")
    chart = repo_root / "charts" / "chargeplane"
    done = subprocess.run(
        [str(helm), "upgrade", "--install", RELEASE, str(chart), "--kube-context", kube_context,
         "--namespace", namespace, "--create-namespace", "--values", str(chart / "ci" / "kind-values.yaml"),
         "--wait", "--timeout", "5m"],
        capture_output=True, text=True, timeout=360,
    )
    assert done.returncode == 0, f"helm upgrade --install: {done.stderr}"
    return Cluster(kube_context, namespace)
