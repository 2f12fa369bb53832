"""Group commit: many stations' writes share one PostgreSQL transaction and one fsync.

A CALLRESULT means durable, so every state change a station reports is committed
before it is answered. Committing each message alone would cap the gateway at the
disk's fsync rate; instead, work that arrives while a commit is in flight is batched
into the next one.

Inside a batch every write is a *set write*: the items of one kind (heartbeats, status
notifications, starts, ...) from all stations become one statement over arrays, and the
outbox events of the whole batch one INSERT, so a batch costs a handful of round trips
however many stations it serves: the commit cycle, and so the reply latency, does not
grow with the load. A batch whose transaction fails is retried item by item, so one bad
item fails only its own station's message (`common.batching`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from chargeplane.common.batching import together_or_alone
from chargeplane.common.db import Connection
from chargeplane.common.logs import get_logger
from chargeplane.common.outbox import PendingOutbox
from chargeplane.common.tracing import untraced

log = get_logger(__name__)

T = TypeVar("T")
MAX_BATCH = 2048
# Transactions in flight at once. Every round trip of a commit waits its turn behind the
# station frames the event loop has queued meanwhile; with several commits in flight a
# message waits for a free one, not for the whole cycle of the one before. Each station
# has one message at a time, so concurrent batches never hold the same station's rows,
# and a station's later events get later outbox ids (its earlier commit came first).
CONCURRENT_COMMITS = 3
STOP_GRACE_S = 5.0  # how long shutdown waits for the commits in flight


@dataclass(slots=True)
class Transaction:
    """What one batch's work sees: the connection, and the batch's outbox."""

    conn: Connection
    outbox: PendingOutbox  # events for other services: they commit with the batch
    # work to start once the batch is committed, which must see what it wrote (a site's limit
    # divided again); it must return at once. A batch that fails runs none of it.
    committed: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)


class SetWrite(Generic[T]):
    """One kind of write that the items of many stations share one statement for.

    `write` gets every item of this kind in the batch and returns one result per item.
    """

    def __init__(self, name: str, write: Callable[[Transaction, Sequence[T]], Awaitable[Sequence[Any]]]) -> None:
        self.name = name
        self.write = write


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any]
    set_write: SetWrite[Any]
    item: Any


def _fail(batch: list[_Pending]) -> None:
    """Nothing of these is known to be committed: their stations get InternalError."""
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(ConnectionError("gateway shutting down"))


class GroupCommitter:
    def __init__(self, pool: asyncpg.Pool, source: str, after_commit: Callable[[], None] = lambda: None,
                 on_batch: Callable[[int], None] = lambda _: None) -> None:
        self._pool = pool
        self._source = source
        self._after_commit = after_commit
        self._on_batch = on_batch
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_COMMITS)
        self._commits: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        with untraced():  # the commit tasks inherit it: a batch is no one station's
            self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        self._stopped = True  # a write queued from now on would wait for a commit that never comes
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Commits in flight finish (their stations get their replies) unless they hang.
        if self._commits:
            _, hanging = await asyncio.wait(set(self._commits), timeout=STOP_GRACE_S)
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
        _fail(self._pending)

    async def run_set(self, set_write: SetWrite[Any], item: Any) -> Any:
        """Add `item` to the next batch's set write of its kind; return its result once committed."""
        if self._stopped:
            raise ConnectionError("gateway shutting down")
        pending = _Pending(asyncio.get_running_loop().create_future(), set_write, item)
        self._pending.append(pending)
        self._wakeup.set()
        return await pending.future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._slots.acquire()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                task = asyncio.create_task(self._commit_in_slot(batch))
                self._commits.add(task)
                task.add_done_callback(self._commits.discard)

    async def _commit_in_slot(self, batch: list[_Pending]) -> None:
        try:
            await self._commit(batch)
        finally:
            self._slots.release()

    async def _commit(self, batch: list[_Pending]) -> None:
        live = [pending for pending in batch if not pending.future.done()]
        try:
            await together_or_alone(live, self._write, _settle)
        except asyncio.CancelledError:
            _fail(live)
            raise

    async def _write(self, live: Sequence[_Pending]) -> list[Any]:
        """Commit these items in one transaction; each one's result."""
        self._on_batch(len(live))
        results: dict[int, Any] = {}
        by_kind: dict[SetWrite[Any], list[_Pending]] = {}
        async with self._pool.acquire() as conn, conn.transaction():
            tx = Transaction(conn, PendingOutbox(self._source))
            for pending in live:
                by_kind.setdefault(pending.set_write, []).append(pending)
            for set_write, items in by_kind.items():
                for pending, result in zip(items, await set_write.write(tx, [p.item for p in items]), strict=True):
                    results[id(pending)] = result
            await tx.outbox.write(conn)
        self._after_commit()
        _run_all(tx.committed)
        return [results[id(pending)] for pending in live]


def _settle(pending: _Pending, outcome: Any) -> None:
    if pending.future.done():  # its station stopped waiting
        return
    if isinstance(outcome, Exception):
        pending.future.set_exception(outcome)
    else:
        pending.future.set_result(outcome)


def _run_all(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # the batch is committed and answered: a follow-up's bug stays its own
            log.exception("after-commit action failed")
