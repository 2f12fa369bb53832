"""Live station sockets, keyed by station id: the newest connection of a station wins."""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, web


class ConnectionRegistry:
    def __init__(self) -> None:
        self._sockets: dict[str, web.WebSocketResponse] = {}

    def __len__(self) -> int:
        return len(self._sockets)

    def __contains__(self, station_id: str) -> bool:
        return station_id in self._sockets

    def register(self, station_id: str, ws: web.WebSocketResponse) -> web.WebSocketResponse | None:
        """Make `ws` the station's connection; return the one it replaces, to be closed."""
        previous = self._sockets.get(station_id)
        self._sockets[station_id] = ws
        return previous if previous is not ws else None

    def unregister(self, station_id: str, ws: web.WebSocketResponse) -> bool:
        """Forget `ws` unless a newer connection of the station has replaced it."""
        if self._sockets.get(station_id) is ws:
            del self._sockets[station_id]
            return True
        return False

    async def close_all(self) -> None:
        # All at once: one by one, each waiting for its station's close frame, thousands
        # of stations would outlast the shutdown timeout.
        sockets = list(self._sockets.values())
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in sockets),
                             return_exceptions=True)
        self._sockets.clear()
