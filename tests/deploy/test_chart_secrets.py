"""No secret in plain sight: every pod the chart renders reads the database URL, the
database password and the JWT key from a Secret the chart renders with that key. (The pods
the operator makes do the same: tests/unit/test_operator_builders.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.crds import Manifest

from .conftest import Render
from .test_chart_render import VALUES, VALUES_IDS

SECRET_ENV = {"DATABASE_URL", "CHARGEPLANE_DATABASE_URL", "POSTGRES_PASSWORD", "JWT_SECRET"}


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for manifest in manifests:
        if manifest["kind"] == "Pod":
            yield manifest["metadata"]["name"], manifest["spec"]
        elif manifest["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


@pytest.mark.parametrize("values", VALUES, ids=VALUES_IDS)
def test_secrets_reach_pods_only_through_secret_key_refs(render: Render, values: Path | None) -> None:
    manifests = render(*([values] if values else []))
    secrets = {m["metadata"]["name"]: set(m.get("stringData", {})) | set(m.get("data", {}))
               for m in manifests if m["kind"] == "Secret"}
    seen = set()
    for name, spec in pod_specs(manifests):
        for container in (*spec.get("initContainers", []), *spec["containers"]):
            for variable in container.get("env", []):
                if variable["name"] not in SECRET_ENV:
                    continue
                seen.add(variable["name"])
                assert "value" not in variable, f"{name}/{container['name']}: {variable['name']} in plain sight"
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["key"] in secrets.get(reference["name"], set()), (name, reference)
    assert {"DATABASE_URL", "CHARGEPLANE_DATABASE_URL"} <= seen

