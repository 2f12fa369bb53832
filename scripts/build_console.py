"""Fetch the console's front-end packages from the npm registry (`npm ci`, the versions and
hashes of services/api_gateway/console/package-lock.json) and copy the files the console
serves into its vendor/ folder, which ships in the wheel and the image and is never committed.

Run by the wheel build (setup.py), `make install` and the Dockerfile; quick when the lock file
has not changed since the last run. Building needs Node.js and npm; installing a built wheel
does not."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

CONSOLE = Path(__file__).resolve().parent.parent / "services" / "api_gateway" / "console"
VENDOR = CONSOLE / "vendor"
# node_modules path -> the name the console's pages use
SERVED = {"uplot/dist/uPlot.esm.js": "uPlot.esm.js", "uplot/dist/uPlot.min.css": "uPlot.min.css"}
STAMP = VENDOR / ".package-lock.sha256"


def _lock_hash() -> str:
    return hashlib.sha256((CONSOLE / "package-lock.json").read_bytes()).hexdigest()


def up_to_date() -> bool:
    return (STAMP.exists() and STAMP.read_text() == _lock_hash()
            and all((VENDOR / name).exists() for name in SERVED.values())
            and (CONSOLE / "node_modules").is_dir())


def build() -> None:
    if up_to_date():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("building ChargePlane's console needs npm (Debian: apt-get install nodejs npm), "
                 "or install a built wheel instead")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CONSOLE, check=True)
    VENDOR.mkdir(exist_ok=True)
    for source, name in SERVED.items():
        shutil.copyfile(CONSOLE / "node_modules" / source, VENDOR / name)
    STAMP.write_text(_lock_hash())
    print(f"console assets built in {VENDOR}: {', '.join(SERVED.values())}", file=sys.stderr)


if __name__ == "__main__":
    build()
