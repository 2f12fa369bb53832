"""Look-ups that share requests: while one request is in flight, the keys asked for
meanwhile wait and go together in the next one.

A lone look-up costs the one request it always did; ten thousand stations reconnecting
at once cost tens of requests instead of ten thousand, each of which would cost the
gateway's core more than the answer does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from chargeplane.common.tracing import untraced

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    def __init__(self, fetch: Callable[[list[K]], Awaitable[Sequence[V]]], max_batch: int) -> None:
        """`fetch` answers a list of keys with one value per key, in order."""
        self._fetch = fetch
        self._max_batch = max_batch
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, future))
        if self._sender is None:
            with untraced():  # a request serves many stations: it belongs to no one station's trace
                self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        batch: list[tuple[K, asyncio.Future[V]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self._max_batch], self._waiting[self._max_batch:]
                try:
                    values = await self._fetch([key for key, _ in batch])
                    if len(values) != len(batch):
                        raise ValueError(f"{len(values)} answers to {len(batch)} look-ups")
                except Exception as exc:  # every look-up of the batch fails with it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), value in zip(batch, values, strict=True):
                    if not future.done():  # its asker may have given up (a closed socket)
                        future.set_result(value)
        except asyncio.CancelledError:  # shutdown: no look-up waits for an answer that cannot come
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._sender = None
