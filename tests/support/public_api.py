"""Driving the platform as its users do: the public API with a token of the `read` and
`operate` scopes, an emulated station that records every frame it receives, what the
gateway's frame log stored, and a file server for firmware images."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from chargeplane.emulator.events import EventKind, StationEvent
from chargeplane.emulator.station import Station, StationConfig
from chargeplane.services.auth.repository import save_client

SECRET = "s3cret-s3cret-s3cret"


@dataclass
class PublicApi:
    http: aiohttp.ClientSession
    base: str
    headers: dict[str, str]

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.http.get(self.base + path, headers=self.headers, params=params) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: Any, **params: Any) -> tuple[int, Any]:
        async with self.http.post(self.base + path, headers=self.headers, json=body, params=params) as response:
            return response.status, await response.json()

    async def delete(self, path: str) -> tuple[int, Any]:
        async with self.http.delete(self.base + path, headers=self.headers) as response:
            return response.status, None if response.status == 204 else await response.json()

    async def command(self, station_id: str, action: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return await self.post(f"/stations/{station_id}/commands/{action}", payload, timeout=10)

    async def download(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        async with self.http.get(self.base + path, headers=self.headers) as response:
            return response.status, await response.read(), dict(response.headers)


async def operator_api(platform: Any, http: aiohttp.ClientSession) -> PublicApi:
    """The public API as a client with the `read` and `operate` scopes."""
    await save_client(platform.db, "operator", SECRET, ["read", "operate"])
    base = platform.url("api_gateway") + "/api/v1"
    async with http.post(base + "/auth/token", json={"client_id": "operator", "client_secret": SECRET}) as response:
        assert response.status == 200
        token = (await response.json())["access_token"]
    return PublicApi(http, base, {"Authorization": f"Bearer {token}"})


@dataclass
class Frames:
    """Every frame an emulated station received and sent, parsed."""

    received: list[list[Any]] = field(default_factory=list)
    sent: list[list[Any]] = field(default_factory=list)

    def __call__(self, event: StationEvent) -> None:
        if event.kind is EventKind.FRAME_RECEIVED:
            self.received.append(orjson.loads(event.text.removeprefix("RECV: ")))
        elif event.kind is EventKind.FRAME_SENT:
            self.sent.append(orjson.loads(event.text.removeprefix("SEND: ")))

    def calls_received(self, action: str) -> list[dict[str, Any]]:
        """The payloads of the CSMS's CALLs of `action`."""
        return [frame[3] for frame in self.received if frame[0] == 2 and frame[2] == action]

    def calls_sent(self, action: str) -> list[dict[str, Any]]:
        return [frame[3] for frame in self.sent if frame[0] == 2 and frame[2] == action]


@contextlib.asynccontextmanager
async def emulated_station(platform: Any, station_id: str, *, register: bool = True,
                           **config: Any) -> AsyncIterator[tuple[Station, Frames]]:
    """A registered emulated station that keeps itself connected (it reconnects after a reboot),
    online when this yields."""
    if register:
        await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1) ON CONFLICT DO NOTHING", station_id)
    frames = Frames()
    station = Station(StationConfig(station_id, csms_url=platform.ocpp_url, **config), on_event=frames)
    connection = asyncio.create_task(station.maintain_connection(initial_backoff=0.1, max_backoff=0.5))
    try:
        async with asyncio.timeout(20):
            await station.wait_online()
        yield station, frames
    finally:
        await station.close()
        await asyncio.gather(connection, return_exceptions=True)


async def stored_reply(db: asyncpg.Pool, station_id: str, action: str) -> dict[str, Any] | None:
    """The station's reply to the CSMS's latest `action` CALL, as the gateway's frame log keeps it."""
    frame = await db.fetchval(
        "SELECT reply.frame FROM ocpp_message_log call JOIN ocpp_message_log reply"
        " ON reply.unique_id = call.unique_id AND reply.station_id = call.station_id AND reply.direction = 'in'"
        " WHERE call.station_id = $1 AND call.direction = 'out' AND call.message_type = 2 AND call.action = $2"
        " ORDER BY call.id DESC LIMIT 1", station_id, action)
    return orjson.loads(frame)[2] if frame is not None else None


async def stored_calls(db: asyncpg.Pool, station_id: str, action: str) -> list[dict[str, Any]]:
    """The payloads of the station's CALLs of `action`, as the gateway's frame log keeps them."""
    frames = await db.fetch(
        "SELECT frame FROM ocpp_message_log WHERE station_id = $1 AND direction = 'in' AND message_type = 2"
        " AND action = $2 ORDER BY id", station_id, action)
    return [orjson.loads(r["frame"])[3] for r in frames]


@contextlib.asynccontextmanager
async def file_server(files: dict[str, bytes]) -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server of `files` on loopback: (its base URL, the paths requested)."""
    requested: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        requested.append(request.path)
        name = request.match_info["name"]
        if name not in files:
            raise web.HTTPNotFound()
        return web.Response(body=files[name], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", requested
    finally:
        await runner.cleanup()
