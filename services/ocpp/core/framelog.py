"""Every OCPP frame in and out, written to `ocpp_message_log` in batches with COPY.

The frame log is for operators and support, not the durable record (that is the
committed state and the outbox), so it is buffered off the hot path: one COPY per
flush instead of one INSERT per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import asyncpg
from aiohttp import web

from chargeplane.common.logs import get_logger
from chargeplane.common.timeutil import utcnow
from chargeplane.common.tracing import untraced

log = get_logger(__name__)

COLUMNS = ("station_id", "direction", "message_type", "unique_id", "action", "frame", "logged_at")
Row = tuple[str, str, int | None, str | None, str | None, str, datetime]


class FrameLog:
    def __init__(self, pool: asyncpg.Pool, flush_interval: float = 0.5, max_buffer: int = 100_000) -> None:
        self._pool = pool
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._buffer: list[Row] = []
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None

    def record(
        self, station_id: str, direction: str, frame: str,
        message_type: int | None = None, unique_id: str | None = None, action: str | None = None,
    ) -> None:
        if len(self._buffer) >= self._max_buffer:
            self._dropped += 1  # PostgreSQL is away; keep the gateway's memory bounded
            return
        self._buffer.append((station_id, direction, message_type, unique_id, action, frame, utcnow()))

    def start(self) -> None:
        with untraced():
            self._task = asyncio.create_task(self._run(), name="frame-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        try:
            await self._pool.copy_records_to_table("ocpp_message_log", records=rows, columns=COLUMNS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._buffer[:0] = rows[: self._max_buffer - len(self._buffer)]
            log.warning("frame log flush failed", error=repr(exc), buffered=len(self._buffer))
        if self._dropped:
            log.warning("frame log dropped frames", dropped=self._dropped)
            self._dropped = 0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()


FRAME_LOG = web.AppKey("frame_log", FrameLog)
