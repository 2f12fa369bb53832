"""What the gateway puts up with from a station, and no more: how fast it may send, how
many handshakes may be in progress, how often it may guess a password. Each limit is a
setting (`OcppSettings`) and is logged when hit."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


class MessageRate:
    """A token bucket: `rate` messages a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def delay(self) -> float:
        """Seconds the next message must wait (0 within the rate); it is counted either way."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    @property
    def recovered(self) -> bool:
        """Half the burst is back: the station has kept within the rate for a while, so a
        flood has ended (a single message that did not wait says nothing on a busy loop)."""
        return self._tokens >= self._burst / 2


class TooManyHandshakes(Exception):
    pass


class HandshakeSlots:
    """At most `limit` handshakes (request received, socket not yet upgraded) at once: each
    costs database queries and maybe a password check, which a flood must not pile up.

    Beyond the limit, up to `queue` more wait for a slot, in arrival order, for at most
    `wait_s`: a reconnect storm is served in turn, where a refusal would cost the refused
    station a request and a retry, and the gateway the request it refused. Beyond the
    queue, or after the wait, TooManyHandshakes (503)."""

    def __init__(self, limit: int, queue: int = 0, wait_s: float = 10.0) -> None:
        self._limit = limit
        self._queue = queue
        self._wait_s = wait_s
        self._waiting: deque[asyncio.Future[None]] = deque()
        self.pending = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.pending < self._limit:
            self.pending += 1
        else:
            await self._wait_for_slot()
        try:
            yield
        finally:
            self._release()

    async def _wait_for_slot(self) -> None:
        if len(self._waiting) >= self._queue:
            raise TooManyHandshakes(f"{self.pending} handshakes in progress, {len(self._waiting)} waiting")
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(handed)
        try:
            async with asyncio.timeout(self._wait_s):
                await handed
        except (TimeoutError, asyncio.CancelledError) as stopped:
            if handed.done() and not handed.cancelled():
                self._release()  # a slot handed over just as the wait ended goes to the next
            else:
                self._waiting.remove(handed)
            if isinstance(stopped, TimeoutError):
                raise TooManyHandshakes(f"no handshake slot within {self._wait_s:g} s") from None
            raise

    def _release(self) -> None:
        while self._waiting:  # the slot passes straight to the longest waiting
            handed = self._waiting.popleft()
            if not handed.done():
                handed.set_result(None)
                return
        self.pending -= 1


class AuthThrottle:
    """Failed password attempts per (station, peer address) in a sliding window: after
    `max_failures` every attempt is refused unchecked until the oldest failure leaves the
    window, so guessing costs time and the auth service no hashing. Only the `max_keys` most
    recently failing keys are remembered, which bounds the memory a guesser can take."""

    def __init__(self, max_failures: int, window_s: float, max_keys: int = 10_000) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def retry_after(self, key: tuple[str, str]) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._failures.get(key)
        if failures is None:
            return 0.0
        now = time.monotonic()
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0.0
        return failures[0] + self._window_s - now if len(failures) >= self._max_failures else 0.0

    def failed(self, key: tuple[str, str]) -> None:
        self._failures.setdefault(key, deque()).append(time.monotonic())
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)


HANDSHAKES = web.AppKey("handshakes", HandshakeSlots)
AUTH_THROTTLE = web.AppKey("auth_throttle", AuthThrottle)
