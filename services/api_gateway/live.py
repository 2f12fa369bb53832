"""Live station status for the console, as server-sent events (`GET /api/v1/station-updates`).

Where it comes from: the gateway commits every connect, disconnect, boot, heartbeat and
StatusNotification to PostgreSQL before it answers the station, whichever replica holds the
socket. So one poller per api-gateway process asks the gateway's station list for what changed
since its last read (`changed_since`, about once a second, only while someone listens) and hands
each station that differs from what it last sent to every listener: one scan of `charging_stations`
a second whatever the number of browsers, the same view the REST API gives,
and nothing added to the gateway's hot path (a publish per frame would be). A write commits a
little after the time it stamps, so each read looks `OVERLAP_S` further back than the last one's
time and sends only what really differs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from chargeplane.common.httpclient import HTTP
from chargeplane.common.logs import get_logger
from chargeplane.common.tracing import untraced

from .settings import API_SETTINGS

log = get_logger(__name__)

POLL_INTERVAL_S = 1.0
OVERLAP_S = 10.0
COUNTS_EVERY_S = 10.0  # counts are read again after a change, and at least this often
PAGE = 1000
# what a listener may fall behind by; past it the stream ends and the browser reconnects and reloads
QUEUE_LIMIT = 2000


def event(name: str, data: bytes) -> bytes:
    """One server-sent event (`data` is JSON: one line)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


@dataclass(eq=False)
class Listener:
    station_ids: frozenset[str] | None  # None: every station
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, message: bytes | None) -> None:
        """`None` ends the stream (shutdown, or the listener fell too far behind)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)


class StationFeed:
    def __init__(self, http: aiohttp.ClientSession, ocpp_url: str) -> None:
        self._http = http
        self._url = ocpp_url + "/internal/stations"
        self._counts_url = ocpp_url + "/internal/station-counts"
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._sent: dict[str, bytes] = {}  # station id -> the JSON last sent
        self._counts: bytes | None = None

    def subscribe(self, station_ids: Iterable[str] | None) -> Listener:
        listener = Listener(None if station_ids is None else frozenset(station_ids))
        if self._counts is not None:
            listener.offer(event("counts", self._counts))
        self._listeners.add(listener)
        if self._task is None:
            with untraced():  # one trace per poll would bury the requests' traces
                self._task = asyncio.create_task(self._run(), name="station-feed")
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        if not self._listeners and self._task is not None:
            self._task.cancel()
            self._task = None
            self._sent.clear()
            self._counts = None

    async def close(self) -> None:
        for listener in self._listeners:
            listener.offer(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _get(self, url: str, params: dict[str, str]) -> Any:
        async with self._http.get(url, params=params) as response:
            response.raise_for_status()
            return await response.json(loads=orjson.loads)

    async def _run(self) -> None:
        since: str | None = None
        counts_read = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                since, changed = await self._read_changes(since)
                if changed or loop.time() - counts_read > COUNTS_EVERY_S:
                    counts_read = loop.time()
                    await self._read_counts()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("station feed read failed", error=repr(exc))
            await asyncio.sleep(POLL_INTERVAL_S)

    async def _read_changes(self, since: str | None) -> tuple[str, bool]:
        """Send what changed; the time to read from next, and whether anything changed."""
        if since is None:  # the first read: from the database's time, what a listener may have missed
            page = await self._get(self._url, {"limit": "1"})
            since = page["as_of"]
        changed_since = (datetime.fromisoformat(since) - timedelta(seconds=OVERLAP_S)).isoformat()
        as_of, changed, offset = since, False, 0
        while True:
            page = await self._get(self._url, {"changed_since": changed_since, "limit": str(PAGE),
                                               "offset": str(offset)})
            as_of = page["as_of"] if offset == 0 else as_of
            for station in page["items"]:
                changed |= self._send_station(station)
            offset += PAGE
            if offset >= page["total"]:
                return as_of, changed

    def _send_station(self, station: dict[str, Any]) -> bool:
        data = orjson.dumps(station)
        if self._sent.get(station["id"]) == data:
            return False
        self._sent[station["id"]] = data
        message = event("station", data)
        for listener in self._listeners:
            if listener.station_ids is None or station["id"] in listener.station_ids:
                listener.offer(message)
        return True

    async def _read_counts(self) -> None:
        counts = orjson.dumps(await self._get(self._counts_url, {}))
        if counts != self._counts:
            self._counts = counts
            for listener in self._listeners:
                listener.offer(event("counts", counts))


STATION_FEED = web.AppKey("station_feed", StationFeed)


async def station_feed_context(app: web.Application) -> AsyncIterator[None]:
    """After the HTTP client (the feed reads through it)."""
    app[STATION_FEED] = StationFeed(app[HTTP], app[API_SETTINGS].ocpp_http_url)
    yield
    await app[STATION_FEED].close()


async def end_streams(app: web.Application) -> None:
    """On shutdown, before aiohttp waits for open requests: the streams end now."""
    await app[STATION_FEED].close()
