"""A thousand connections racing for one station id: when the dust settles exactly one is
live, and it is the one the gateway accepted last. The race also fills the gateway's
handshake slots and their queue (50 and 100 on the hostile platform): the overflow is told
503, and retries."""

from __future__ import annotations

import asyncio
import json
import random

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidMessage, InvalidStatus

from support.platform import RunningPlatform

from .conftest import log_events

RACERS = 1000


async def race(url: str, refusals: list[int]) -> ClientConnection:
    """Connect, retrying shortly after each refusal, as a station does; and after a handshake
    the gateway dropped unanswered: on a loaded machine a connection can wait longer than the
    hostile platform's 2 s KEEPALIVE_TIMEOUT_S for its request to be read (the slowloris limit)."""
    while True:
        try:
            return await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=60, ping_interval=None)
        except InvalidStatus as refused:
            refusals.append(refused.response.status_code)
        except InvalidMessage:  # closed before an answer
            pass
        await asyncio.sleep(random.uniform(0.05, 0.3))


async def test_a_thousand_racing_connections_leave_one_the_newest(platform: RunningPlatform, ocpp_url: str) -> None:
    refusals: list[int] = []
    async with asyncio.timeout(120):
        opened = await asyncio.gather(*(race(f"{ocpp_url}/RACE-1", refusals) for _ in range(RACERS)))
    try:
        assert refusals and set(refusals) == {503}, "too many handshakes at once: retry later"
        assert [e for e in log_events(platform, "ocpp", "too many pending handshakes") if e["station_id"] == "RACE-1"]
        await asyncio.sleep(2)  # the replaced ones are closed by now
        live = []
        for ws in opened:
            try:
                await ws.send(json.dumps([2, "alive?", "Heartbeat", {}]))
                if json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3:
                    live.append(ws)
            except websockets.ConnectionClosed:
                continue
        assert len(live) == 1, f"{len(live)} live connections of {RACERS}"
        accepted = [e for e in log_events(platform, "ocpp", "station connected") if e["station_id"] == "RACE-1"]
        assert len(accepted) == RACERS
        assert accepted[-1]["peer_port"] == live[0].local_address[1], "the survivor is the last one accepted"
    finally:
        await asyncio.gather(*(ws.close() for ws in opened))
