"""Group commit: many stations' writes share one PostgreSQL transaction and one fsync.

A CALLRESULT means durable, so every state change a station reports is committed
before it is answered. Committing each message alone would cap the gateway at the
disk's fsync rate; instead, work that arrives while a commit is in flight is batched
into the next one. A batch whose transaction fails is retried item by item, so one
bad item fails only its own station's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[Any]]
MAX_BATCH = 256


class GroupCommitter:
    def __init__(self, pool: asyncpg.Pool, after_commit: Callable[[], None] = lambda: None) -> None:
        self._pool = pool
        self._after_commit = after_commit
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, future in self._pending:
            if not future.done():
                future.set_exception(ConnectionError("gateway shutting down"))

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `work` inside a transaction; return its result once it is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        live = [(work, future) for work, future in batch if not future.done()]
        try:
            async with self._pool.acquire() as conn:
                results = []
                async with conn.transaction():
                    for work, _ in live:
                        results.append(await work(conn))
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)
        except Exception as batch_error:
            if len(live) == 1:
                if not live[0][1].done():
                    live[0][1].set_exception(batch_error)
            else:
                for item in live:
                    await self._commit([item])
        self._after_commit()
