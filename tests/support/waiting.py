"""Waiting for what other processes and tasks do, by polling: no one event tells."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(predicate: Callable[[], Awaitable[Any]], within_s: float = 30.0, interval: float = 0.1) -> Any:
    """The first truthy value of `await predicate()`; AssertionError after `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate.__name__}")
        await asyncio.sleep(interval)
