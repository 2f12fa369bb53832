"""An asyncio event loop on a daemon thread: the station awaits the CSMS there, so Tk's main
loop never waits for the network."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self, name: str = "station event loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coroutine` on the loop; safe to call from any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what still runs, then stop the loop and its thread."""
        if self._loop.is_closed():
            return
        self.submit(self._cancel_remaining_tasks()).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    @staticmethod
    async def _cancel_remaining_tasks() -> None:
        current = asyncio.current_task()
        remaining = [task for task in asyncio.all_tasks() if task is not current]
        for task in remaining:
            task.cancel()
        await asyncio.gather(*remaining, return_exceptions=True)
