"""ChargePlane installed the way Python users install it: a fresh virtualenv with the pip
that ships with this Python (Python 3.11: pip 23.2), and a developer's first command in the
repository root.

Resolving is what broke (pip 23.2 ran into ResolutionImpossible among the OpenTelemetry
packages, which only a newer pip got round), so the install test resolves for real:
`pip install --dry-run` runs the resolver `pip install` runs, over the whole dependency tree
from the index (every candidate's metadata read, every conflict found), and skips only the
unpacking into site-packages, which no conflict depends on. `--ignore-installed` keeps what
the new virtualenv already holds (pip, setuptools) from standing in for a requirement. The
wheel is built too (`pip wheel --no-deps`, nothing to resolve) and its contents checked.
These need the package index; they take about a minute, most of it the resolver's.
"""

from __future__ import annotations

import ensurepip
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.install

PIP_TIMEOUT_S = 600


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = PIP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def stock_pip(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`python3.11 -m venv x`, pip not upgraded: the pip `ensurepip` bundles with this Python."""
    venv = tmp_path_factory.mktemp("stock-venv")
    _run(sys.executable, "-m", "venv", venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    version = _run(*pip, "--version").stdout.split()[1]
    assert version == ensurepip.version(), f"the new virtualenv has pip {version}, not this Python's own"
    return pip


def test_a_fresh_virtualenv_with_the_stock_pip_resolves_the_package(stock_pip: list[str], repo_root: Path,
                                                                    tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    _run(*stock_pip, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", report, repo_root)
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    assert resolved["chargeplane"] == tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    # one OpenTelemetry release line: the core packages share a version, the contrib ones theirs
    core = {resolved[name] for name in ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-proto",
                                        "opentelemetry-exporter-otlp-proto-http")}
    contrib = {version for name, version in resolved.items() if name.startswith("opentelemetry-instrumentation")}
    assert len(core) == 1 and len(contrib) == 1, resolved


def test_the_wheel_carries_every_module_of_the_mapped_folders(stock_pip: list[str], repo_root: Path,
                                                            tmp_path: Path) -> None:
    _run(*stock_pip, "wheel", "--no-deps", "--quiet", "--wheel-dir", tmp_path, repo_root)
    [wheel] = tmp_path.glob("chargeplane-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    mapping = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    expected = {"chargeplane/py.typed"}
    for package, folder in mapping.items():
        for path in (repo_root / folder).rglob("*"):
            if path.suffix == ".py" or (path.suffix == ".sql" and path.parent.name == "migrations"):
                expected.add("/".join((*package.split("."), *path.relative_to(repo_root / folder).parts)))
    assert expected - shipped == set()
    assert "chargeplane/operator/handlers.py" in shipped and "chargeplane/operator/__init__.py" not in shipped
    assert not [name for name in shipped if name.startswith("operator/")]  # never a top-level `operator`


def _without_safe_path() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYTHONSAFEPATH"}


def test_python_in_the_repository_root_imports_the_standard_library(repo_root: Path) -> None:
    done = _run(sys.executable, "-c", "import asyncio, operator; print(operator.__file__)", cwd=repo_root,
                env=_without_safe_path(), timeout=60)
    assert not done.stdout.strip().startswith(str(repo_root)), done.stdout


def test_python_m_pytest_collects_in_the_repository_root(repo_root: Path) -> None:
    """A Python developer's first command, with the working directory on sys.path."""
    done = _run(sys.executable, "-m", "pytest", "--collect-only", "--quiet", cwd=repo_root, env=_without_safe_path(),
                timeout=300)
    assert " collected" in done.stdout.splitlines()[-1], done.stdout[-2000:]
