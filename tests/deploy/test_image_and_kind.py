"""The Dockerfile builds from files that exist and reach the build context; kind-config.yaml
maps exactly the chart's node ports to the host."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from chargeplane.operator.constants import GATEWAY_STATION_PORT

from .conftest import Render


def dockerfile_copy_sources(dockerfile: Path) -> list[str]:
    """Sources of every COPY from the build context (not `--from=` another stage)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    sources = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_the_dockerfile_copies_files_that_exist_into_the_context(repo_root: Path) -> None:
    sources = dockerfile_copy_sources(repo_root / "Dockerfile")
    assert sources
    assert [s for s in sources if not (repo_root / s).exists()] == []
    ignore = [line for line in (repo_root / ".dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore lets through only what it names"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert set(sources) == allowed


def test_the_image_holds_every_folder_the_package_maps(repo_root: Path) -> None:
    """The wheel the builder stage makes needs every package-dir folder, or a package is missing."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())
    needed = {*project["tool"]["setuptools"]["package-dir"].values(), "pyproject.toml", project["project"]["readme"]}
    assert needed <= set(dockerfile_copy_sources(repo_root / "Dockerfile"))


def test_the_image_runs_as_a_numeric_non_root_user(repo_root: Path) -> None:
    users = re.findall(r"^USER\s+(\S+)", (repo_root / "Dockerfile").read_text(), re.MULTILINE)
    assert users and users[-1].isdigit() and int(users[-1]) != 0


def test_kind_maps_each_node_port_to_its_service_port_on_the_host(render: Render, repo_root: Path,
                                                                 chart_dir: Path) -> None:
    config = yaml.safe_load((repo_root / "kind-config.yaml").read_text())
    mapped = {m["containerPort"]: m["hostPort"] for node in config["nodes"] for m in node.get("extraPortMappings", [])}
    every_node_port = render(chart_dir / "ci" / "kind-values.yaml", sets=("nodePorts.api.enabled=true",))
    exposed = {port["nodePort"]: port["port"] for m in every_node_port
               if m["kind"] == "Service" and m["spec"].get("type") == "NodePort" for port in m["spec"]["ports"]}
    assert mapped == exposed
    assert mapped[30081] == GATEWAY_STATION_PORT  # never the internal API's port
