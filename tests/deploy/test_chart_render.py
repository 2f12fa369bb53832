"""`helm lint` and `helm template` of the defaults and of each ci/*-values.yaml, every
rendered object validated against the Kubernetes schemas (kubernetes-validate, offline)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from chargeplane.operator.constants import LABEL_SERVICE
from support.crds import spec_errors, spec_schemas

from .conftest import Render

CHART = Path(__file__).resolve().parents[2] / "charts" / "chargeplane"
VALUES = [None, *sorted((CHART / "ci").glob("*-values.yaml"))]
VALUES_IDS = ["defaults", *(path.name for path in VALUES[1:])]
# Chart.yaml's kubeVersion floor, and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.29", kubernetes_validate.latest_version()]
CUSTOM_GROUP = "chargeplane.io/"
# The Prometheus Operator's kinds: no schema of them offline; test_chart_metrics.py checks them.
PROMETHEUS_OPERATOR_GROUP = "monitoring.coreos.com/"
STANDARD_LABELS = {"helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/component", "app.kubernetes.io/version", "app.kubernetes.io/part-of",
                   "app.kubernetes.io/managed-by"}
SELECTOR_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


def _values_args(values: Path | None) -> list[Path]:
    return [values] if values else []


@pytest.mark.parametrize("values", VALUES, ids=VALUES_IDS)
def test_helm_lint_is_clean(helm: Path, chart_dir: Path, values: Path | None) -> None:
    args = [str(helm), "lint", "--strict", str(chart_dir)] + [f"--values={v}" for v in _values_args(values)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", VALUES, ids=VALUES_IDS)
def test_rendered_objects_are_valid_kubernetes(render: Render, values: Path | None, version: str) -> None:
    built_in = [m for m in render(*_values_args(values))
                if not m["apiVersion"].startswith((CUSTOM_GROUP, PROMETHEUS_OPERATOR_GROUP, "kopf.dev/"))]
    assert built_in
    for manifest in built_in:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} at {list(error.path)}: {error.message}")


@pytest.mark.parametrize("values", VALUES, ids=VALUES_IDS)
def test_rendered_custom_resources_match_the_crds(render: Render, repo_root: Path, values: Path | None) -> None:
    custom = [m for m in render(*_values_args(values)) if m["apiVersion"].startswith(CUSTOM_GROUP)]
    if not custom:
        pytest.skip("these values render no custom resource")
    schemas = spec_schemas(repo_root / "crds")
    if not schemas:
        pytest.skip(f"crds/ holds no CRD yet: {', '.join(sorted({m['kind'] for m in custom}))} not validated")
    assert [error for m in custom for error in spec_errors(m, schemas)] == []


@pytest.mark.parametrize("values", VALUES, ids=VALUES_IDS)
def test_names_labels_and_selectors_follow_the_scaffold(render: Render, values: Path | None) -> None:
    for manifest in render(*_values_args(values)):
        where, spec = f"{manifest['kind']}/{manifest['metadata']['name']}", manifest.get("spec", {})
        assert len(manifest["metadata"]["name"]) <= 63, where
        assert set(manifest["metadata"].get("labels", {})) >= STANDARD_LABELS, where
        if manifest["kind"] in {"Deployment", "StatefulSet"}:
            selector = spec["selector"]["matchLabels"]
            assert set(selector) == SELECTOR_LABELS, where
            assert selector.items() <= spec["template"]["metadata"]["labels"].items(), where
        elif manifest["kind"] == "Service":
            # the node ports select the operator's platform pods by the operator's own label
            assert set(spec["selector"]) in (SELECTOR_LABELS, {LABEL_SERVICE}), where
