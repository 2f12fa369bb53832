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
