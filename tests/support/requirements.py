"""Tests that need a tool this machine may lack (a browser, the Go-built control plane, podman):
without it they skip with one line naming what is missing and the command that provides it.

`.ci/run` sets CHARGEPLANE_REQUIRE_TOOLS=1: there every tool is installed first, so such a skip
would hide a broken install, and it fails the test instead."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_TOOLS = "CHARGEPLANE_REQUIRE_TOOLS"


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS, "") not in ("", "0")


def missing_tool(what: str, provided_by: str) -> NoReturn:
    """Skip (or, under CHARGEPLANE_REQUIRE_TOOLS, fail) because `what` is missing here."""
    message = f"{what} is not available here; `{provided_by}` provides it"
    if tools_required():
        pytest.fail(f"{message} ({REQUIRE_TOOLS} is set, so this is a failure)", pytrace=False)
    pytest.skip(message)
