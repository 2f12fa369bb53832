"""The references the gateway is measured against, each one process on the gateway's core
(`python -m chargeplane.bench.references echo|peer --port N`).

* echo: a bare aiohttp WebSocket server answering every CALL with one fixed CALLRESULT:
  the most a Python WebSocket server does on this core, doing nothing.
* peer: what a Python developer writes first: the `ocpp` library's stock `ChargePoint`
  over `websockets`, with its default validation of every CALL and reply against the
  official schemas, handlers returning fixed replies, no database.

Both run on uvloop, like the gateway, so the comparison is of the code, not the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import WSMsgType, web

# A superset of what the benchmark's stations read from a reply (transactionId included).
FIXED_RESULT = orjson.dumps({"status": "Accepted", "currentTime": "2026-01-01T00:00:00.000Z", "interval": 300,
                             "transactionId": 1, "idTagInfo": {"status": "Accepted"}}).decode()


async def _echo_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("ocpp1.6",), heartbeat=None)
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            unique_id = orjson.loads(message.data)[1]
            await ws.send_str(f'[3,"{unique_id}",{FIXED_RESULT}]')
    return ws


def _echo_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ocpp/{station_id}", _echo_socket)
    return app


async def _run_peer(port: int) -> None:
    import websockets
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
    from websockets.typing import Subprotocol

    accepted = {"status": AuthorizationStatus.accepted}

    class PeerCsms(ChargePoint):  # the library's documented pattern, nothing tuned
        @on(Action.boot_notification)
        async def on_boot(self, **_: Any) -> call_result.BootNotification:
            return call_result.BootNotification(current_time="2026-01-01T00:00:00.000Z", interval=300,
                                                status=RegistrationStatus.accepted)

        @on(Action.heartbeat)
        async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
            return call_result.Heartbeat(current_time="2026-01-01T00:00:00.000Z")

        @on(Action.status_notification)
        async def on_status(self, **_: Any) -> call_result.StatusNotification:
            return call_result.StatusNotification()

        @on(Action.start_transaction)
        async def on_start(self, **_: Any) -> call_result.StartTransaction:
            return call_result.StartTransaction(transaction_id=1, id_tag_info=accepted)

        @on(Action.meter_values)
        async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
            return call_result.MeterValues()

        @on(Action.stop_transaction)
        async def on_stop(self, **_: Any) -> call_result.StopTransaction:
            return call_result.StopTransaction(id_tag_info=accepted)

    async def on_connect(connection: Any) -> None:
        station_id = connection.request.path.rstrip("/").split("/")[-1]
        with contextlib.suppress(websockets.ConnectionClosed):
            await PeerCsms(station_id, connection).start()

    async with websockets.serve(on_connect, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")],
                                ping_interval=None, backlog=4096):
        await asyncio.Future()


def main() -> None:
    import logging

    import uvloop

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("echo", "peer"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # as with no logging set up: the per-frame INFO lines are off
    if args.kind == "echo":
        uvloop.install()
        web.run_app(_echo_app(), host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096)
    else:
        uvloop.run(_run_peer(args.port))


if __name__ == "__main__":
    main()
