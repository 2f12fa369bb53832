"""crds/ is the one source of the CRDs; the chart carries the same files (`make sync-crds`)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from support.crds import crd_files, spec_errors, spec_schemas, yaml_documents
from support.resources import flat_fee_tariff, simulated_station

REPO = Path(__file__).resolve().parents[2]


def test_the_chart_carries_exactly_the_crds_of_crds_folder(repo_root: Path, chart_dir: Path) -> None:
    source = {path.name: path.read_bytes() for path in crd_files(repo_root / "crds")}
    carried = {path.name: path.read_bytes() for path in crd_files(chart_dir / "crds")}
    assert sorted(carried) == sorted(source), "run `make sync-crds`"
    assert [name for name in source if carried[name] != source[name]] == [], "run `make sync-crds`"


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
