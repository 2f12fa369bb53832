"""Live station connections, keyed by station id: the newest connection of a station wins."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, web

if TYPE_CHECKING:
    from .connection import StationConnection


class ConnectionRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, StationConnection] = {}

    def __len__(self) -> int:
        return len(self._connections)

    def __contains__(self, station_id: str) -> bool:
        return station_id in self._connections

    def station_ids(self) -> list[str]:
        return list(self._connections)

    def get(self, station_id: str) -> StationConnection | None:
        return self._connections.get(station_id)

    def register(self, station_id: str, connection: StationConnection) -> StationConnection | None:
        """Make `connection` the station's; return the one it replaces, to be closed."""
        previous = self._connections.get(station_id)
        self._connections[station_id] = connection
        return previous if previous is not connection else None

    def unregister(self, station_id: str, connection: StationConnection) -> bool:
        """Forget `connection` unless a newer connection of the station has replaced it."""
        if self._connections.get(station_id) is connection:
            del self._connections[station_id]
            return True
        return False

    async def close_all(self) -> None:
        # All at once: one by one, each waiting for its station's close frame, thousands
        # of stations would outlast the shutdown timeout.
        connections = list(self._connections.values())
        await asyncio.gather(*(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                               for c in connections), return_exceptions=True)
        self._connections.clear()


REGISTRY = web.AppKey("registry", ConnectionRegistry)
