"""The package-dir mapping must list every package, or a wheel ships without it."""

from __future__ import annotations

import tomllib
from pathlib import Path


def test_every_package_folder_is_declared(repo_root: Path) -> None:
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (repo_root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(repo_root / folder).parts
            found.add(".".join((package, *relative)))
    assert found == set(config["packages"])


def test_folders_named_like_stdlib_modules_do_not_shadow_them(repo_root: Path) -> None:
    """Top-level folders are imported as `chargeplane.*` only (no root conftest, importlib
    import mode), so a folder such as `operator/` never hides the stdlib module."""
    import importlib
    import sys

    for folder in (p for p in repo_root.iterdir() if (p / "__init__.py").exists()):
        if folder.name in sys.stdlib_module_names:
            module = importlib.import_module(folder.name)
            assert not str(getattr(module, "__file__", "")).startswith(str(repo_root)), folder.name


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
