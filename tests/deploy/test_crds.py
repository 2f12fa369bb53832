"""crds/ is the one source of the CRDs; the chart carries the same files (`make sync-crds`) and
renders them from templates/crds.yaml, behind crds.enabled and crds.keep."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from support.crds import Manifest, crd_files, spec_errors, spec_schemas, yaml_documents
from support.resources import flat_fee_tariff, simulated_station

from .conftest import Render

REPO = Path(__file__).resolve().parents[2]


def test_the_chart_carries_exactly_the_crds_of_crds_folder(repo_root: Path, chart_dir: Path) -> None:
    source = {path.name: path.read_bytes() for path in crd_files(repo_root / "crds")}
    carried = {path.name: path.read_bytes() for path in crd_files(chart_dir / "files" / "crds")}
    assert sorted(carried) == sorted(source), "run `make sync-crds`"
    assert [name for name in source if carried[name] != source[name]] == [], "run `make sync-crds`"
    # a crds/ folder would be installed once and never upgraded, and clash with the templates
    assert not (chart_dir / "crds").exists()


def rendered_crds(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == "CustomResourceDefinition"}


def test_the_chart_renders_the_crds_of_crds_folder_with_its_labels_and_kept(repo_root: Path, render: Render) -> None:
    rendered = rendered_crds(render())
    source = {crd["metadata"]["name"]: crd for path in crd_files(repo_root / "crds")
              for crd in yaml_documents(path.read_text())}
    assert sorted(rendered) == sorted(source)
    for name, crd in rendered.items():
        assert crd["spec"] == source[name]["spec"], name
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}, name
        assert source[name]["metadata"].get("labels", {}).items() <= crd["metadata"]["labels"].items()
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_crds_keep_false_lets_uninstall_delete_them_and_crds_enabled_false_renders_none(render: Render) -> None:
    unkept = rendered_crds(render(sets=("crds.keep=false",)))
    assert sorted(unkept) and all("annotations" not in crd["metadata"] for crd in unkept.values())
    assert rendered_crds(render(sets=("crds.enabled=false",))) == {}


@pytest.mark.parametrize("path", crd_files(REPO / "crds"), ids=lambda path: path.name)
def test_each_crd_is_a_valid_custom_resource_definition(path: Path) -> None:
    for crd in yaml_documents(path.read_text()):
        assert crd["kind"] == "CustomResourceDefinition"
        kubernetes_validate.validate(crd, kubernetes_validate.latest_version(), strict=True)
        if crd["spec"]["group"] == "kopf.dev":  # kopf's peering resource: a status kopf writes, nothing else
            continue
        assert crd["spec"]["group"] == "chargeplane.io"
        for version in crd["spec"]["versions"]:
            # helm installs crds/ as they are: each served version needs its schema
            assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_the_kind_suites_resources_match_the_crds(repo_root: Path) -> None:
    schemas = spec_schemas(repo_root / "crds")
    if not schemas:
        pytest.skip("crds/ holds no CRD yet: the kind suite's Tariff and ChargingStation not validated")
    resources = [flat_fee_tariff("e2e-tariff"), simulated_station("e2e-station", "e2e-tariff")]
    assert [error for resource in resources for error in spec_errors(resource, schemas)] == []
