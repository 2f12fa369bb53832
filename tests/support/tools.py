"""The Go-built components (scripts/build-tools.sh): where their binaries are, and a one-line
skip (a failure under CHARGEPLANE_REQUIRE_TOOLS) when they are not built on this machine."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .requirements import missing_tool

REPO = Path(__file__).resolve().parents[2]
BUILD = "make tools"


def tools_cache() -> Path:
    if explicit := os.environ.get("CHARGEPLANE_TOOLS"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chargeplane" / "tools"


def build_dir(module: str) -> Path:
    """Where scripts/build-tools.sh puts the build of tools/<module>/go.mod as it is now."""
    folder = REPO / "tools" / module
    key = hashlib.sha256((folder / "go.mod").read_bytes() + (folder / "go.sum").read_bytes()).hexdigest()[:12]
    return tools_cache() / f"{module}-{key}"


def built(module: str, binary: str) -> Path | None:
    path = build_dir(module) / binary
    return path if (path.parent / ".built").exists() and path.exists() else None


def require_binary(module: str, binary: str) -> Path:
    """The binary, or skip: it is not built (Go missing, or `make tools` not run yet)."""
    path = built(module, binary)
    if path is None:
        missing_tool(f"{binary} (built from tools/{module}/go.mod)", BUILD)
    return path


def go_module_file(module_at_version: str, path: str) -> Path:
    """A file of a Go module (e.g. a CRD a project publishes), fetched into Go's module cache
    through the module proxy; skip without Go."""
    go = shutil.which("go")
    if go is None:
        missing_tool("Go (for the module proxy)", "apt-get install golang, or https://go.dev/doc/install")
    done = subprocess.run([go, "mod", "download", "-json", module_at_version], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())
    assert done.returncode == 0, f"go mod download {module_at_version}: {done.stdout}{done.stderr}"
    return Path(json.loads(done.stdout)["Dir"]) / path
