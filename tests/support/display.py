"""A virtual X display for tests of the desktop emulator: Debian's Xvfb, installed with
apt-get when missing (CI runs on a fresh machine as root), on a display number it picks."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

XVFB_START_SECONDS = 20.0
APT_SECONDS = 600


class DisplayUnavailable(RuntimeError):
    """No virtual display can be had on this machine; the message says why."""


def _apt_install(apt_get: str, package: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [apt_get, "install", "-y", "-q", "--no-install-recommends", package],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True, text=True, timeout=APT_SECONDS, check=False,
    )  # fmt: skip


def ensure_xvfb() -> str:
    """The path of Xvfb, installing Debian's `xvfb` package first if it is missing."""
    if found := shutil.which("Xvfb"):
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        raise DisplayUnavailable("Xvfb is not installed, and apt-get (as root) is not available to install it")
    done = _apt_install(apt_get, "xvfb")
    if done.returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run([apt_get, "update", "-q"], capture_output=True, timeout=APT_SECONDS, check=False)
        done = _apt_install(apt_get, "xvfb")
    if done.returncode != 0 or not (found := shutil.which("Xvfb")):
        raise DisplayUnavailable(f"apt-get could not install xvfb: {done.stderr.strip()[-300:]}")
    return found


@contextmanager
def virtual_display(width: int = 1280, height: int = 800) -> Iterator[str]:
    """Run Xvfb for the duration; yields the display name, e.g. `:7`."""
    xvfb = ensure_xvfb()
    ready_read, ready_write = os.pipe()
    with tempfile.TemporaryFile() as log:
        # -displayfd: Xvfb picks a free display number and writes it here once it accepts clients.
        process = subprocess.Popen(
            [xvfb, "-displayfd", str(ready_write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=(ready_write,), stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        os.close(ready_write)
        try:
            with os.fdopen(ready_read) as ready:
                readable, _, _ = select.select([ready], [], [], XVFB_START_SECONDS)
                number = ready.readline().strip() if readable else ""
            if not number:
                log.seek(0)
                raise DisplayUnavailable(f"Xvfb did not start: {log.read().decode(errors='replace')[-300:]}")
            yield f":{number}"
        finally:
            process.terminate()
            process.wait(10)


def screenshot(display: str, bounds: tuple[int, int, int, int], path: Path) -> None:
    """Save the (left, top, right, bottom) part of the display's screen as a PNG."""
    from PIL import ImageGrab  # only screenshots need Pillow

    path.parent.mkdir(parents=True, exist_ok=True)
    ImageGrab.grab(bbox=bounds, xdisplay=display).save(path)
