"""The package-dir mapping must list every package, or a wheel ships without it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# The folders that are namespace packages on purpose (pyproject.toml says why).
NAMESPACE_FOLDERS = {"cli", "operator"}


def _setuptools(repo_root: Path) -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config


def test_every_package_folder_is_declared(repo_root: Path) -> None:
    """A folder with Python files is a package, with an `__init__.py` or without (a namespace)."""
    config = _setuptools(repo_root)
    mapping = config["package-dir"]
    assert isinstance(mapping, dict)
    found = set()
    for package, folder in mapping.items():
        for module in (repo_root / folder).rglob("*.py"):
            relative = module.parent.relative_to(repo_root / folder).parts
            found.add(".".join((package, *relative)))
    assert found == set(config["packages"])  # type: ignore[arg-type]


def test_no_top_level_folder_is_a_package_named_like_a_stdlib_module(repo_root: Path) -> None:
    """With the repository root on sys.path (`python -m pytest`, `python -c`), a folder with an
    `__init__.py` named like a standard module (`operator`) would be imported instead of it;
    one without loses to the standard module."""
    shadowing = [folder.name for folder in repo_root.iterdir()
                 if folder.name in sys.stdlib_module_names and (folder / "__init__.py").exists()]
    assert shadowing == []

def test_the_wheel_carries_every_file_of_the_console(repo_root: Path) -> None:
    """The console's pages are package data: a file no pattern names would be missing from the
    wheel and the image (npm's own files and packages stay out)."""
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["chargeplane.services.api_gateway"]
    package = repo_root / "services" / "api_gateway"
    console = package / "console"
    files = [p.relative_to(package).as_posix() for p in console.rglob("*") if p.is_file()
             and "node_modules" not in p.parts and p.name not in ("package.json", "package-lock.json")
             and not p.name.startswith(".")]
    assert "console/index.html" in files
    shipped = {p.relative_to(package).as_posix() for pattern in patterns for p in package.glob(pattern)}
    assert [f for f in files if f not in shipped] == []
    assert "console/vendor/*" in patterns  # what scripts/build_console.py fetched: uPlot

def test_the_namespace_folders_stay_namespaces(repo_root: Path) -> None:
    assert [name for name in sorted(NAMESPACE_FOLDERS) if (repo_root / name / "__init__.py").exists()] == []
