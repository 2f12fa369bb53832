"""The chart, the image and the kind config, checked with a real helm and no cluster."""

from __future__ import annotations

import functools
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from support.crds import Manifest, yaml_documents

RELEASE = "chargeplane"
NAMESPACE = "chargeplane"

Render = Callable[..., list[Manifest]]


@pytest.fixture(scope="session")
def chart_dir(repo_root: Path) -> Path:
    return repo_root / "charts" / "chargeplane"


@pytest.fixture(scope="session")
def render(helm: Path, chart_dir: Path) -> Render:
    """`helm template` of the chart; each call renders with the given values files and --set pairs."""

    @functools.cache  # the same values render the same objects; tests only read them
    def render(*values: Path, sets: tuple[str, ...] = ()) -> list[Manifest]:
        args = [str(helm), "template", RELEASE, str(chart_dir), "--namespace", NAMESPACE]
        for path in values:
            args += ["--values", str(path)]
        for pair in sets:
            args += ["--set", pair]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return yaml_documents(done.stdout)

    return render


def the_one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {[m['metadata']['name'] for m in manifests]}"
    return found[0]


@pytest.fixture(scope="session")
def project_version(repo_root: Path) -> str:
    version: str = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    return version
