"""Background work of the gateway's contexts: a sweep repeated for as long as the app runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def repeat(interval_s: float, work: Callable[[], Awaitable[None]], failure_event: str) -> None:
    """`work` every `interval_s` seconds, for ever; a round that fails (the database may be
    away) is logged as `failure_event`, and the next one tries again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await work()
        except Exception as exc:
            log.warning(failure_event, error=repr(exc))


@asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """`work` in a task for as long as the context lasts (a cleanup context's `yield`)."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
