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


async def finished_within(work: Awaitable[Any], within_s: float, what: str) -> bool:
    """Run `work`; False, with every task's stack printed, when it is not done in `within_s`.
    Unlike `asyncio.wait_for`, which waits for the cancelled work to end, this returns even
    when the work swallows its cancellation (a teardown that hung that way stalled a test
    run for pytest-timeout's 300 s, its stack telling nothing)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if done:
        task.result()  # its error, if any
        return True
    for other in asyncio.all_tasks():
        other.print_stack(limit=12)
    print(f"{what} did not finish within {within_s} s (task stacks above)")
    task.cancel()
    return False
