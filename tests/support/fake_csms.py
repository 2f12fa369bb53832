"""A tiny CSMS for emulator tests (aiohttp.web on a loopback port).

Nothing of the station is mocked: the fake CSMS speaks OCPP-J over a real WebSocket, records
every frame a station sends, and `assert_frames_valid` checks each of them against the
official OCPP 1.6 JSON schemas shipped with the `ocpp` package.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import itertools
import json
import re
import socket
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
from aiohttp import WSMsgType, web

OCPP_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CALL_ERROR_CODES = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
# Fast enough for unit tests: 360 kW adds 100 Wh per second, so a 0.05 s meter interval
# still moves the whole-Wh register on every sample.
FAST_POWER_KW = 360.0
FAST_INTERVAL = 0.05


@functools.cache
def ocpp_schema(name: str) -> jsonschema_rs.Draft4Validator:
    text = importlib.resources.files("ocpp.v16").joinpath("schemas", f"{name}.json").read_text()
    return jsonschema_rs.Draft4Validator(json.loads(text), validate_formats=True)


def timestamps_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("timestamp", "currentTime") and isinstance(v, str)]
        return found + [t for v in value.values() for t in timestamps_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in timestamps_in(v)]
    return []


def now_z() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeCsms:
    """Answers Boot/Heartbeat/Status/Authorize/Start/Stop/MeterValues with valid OCPP 1.6
    replies, records every frame a station sends, and can send CALLs to a station."""

    def __init__(self) -> None:
        self.frames: dict[str, list[list[Any]]] = defaultdict(list)
        self.handshakes: dict[str, dict[str, str | None]] = {}
        # BootNotification statuses to answer with before Accepted.
        self.boot_statuses: list[str] = []
        # Actions answered with this CALLERROR code, and actions left unanswered.
        self.errors_for: dict[str, str] = {}
        self.silent_for: set[str] = set()
        # While set, WebSocket upgrades are refused: the station stays offline.
        self.refuse_connections = False
        # How many more CALLs of an action to answer with InternalError ("retry later").
        self.internal_errors: Counter[str] = Counter()
        self.url = ""
        self._transaction_ids = itertools.count(1)
        self._unique_ids = itertools.count(1)
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._replies: dict[str, asyncio.Future[list[Any]]] = {}
        # The action of every CSMS-initiated CALL, to validate the station's CALLRESULT.
        self._our_actions: dict[str, str] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ocpp/{station_id}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"ws://127.0.0.1:{sock.getsockname()[1]}/ocpp"

    async def stop(self) -> None:
        for ws in list(self._sockets.values()):
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    def calls(self, station_id: str, action: str) -> list[dict[str, Any]]:
        return [f[3] for f in self.frames[station_id] if f[0] == 2 and f[2] == action]

    def statuses(self, station_id: str, connector_id: int) -> list[str]:
        return [p["status"] for p in self.calls(station_id, "StatusNotification") if p["connectorId"] == connector_id]

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        unique_id = f"csms-{next(self._unique_ids)}"
        self._our_actions[unique_id] = action
        reply = self._replies[unique_id] = asyncio.get_running_loop().create_future()
        await self._sockets[station_id].send_str(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(reply, 2)

    def is_connected(self, station_id: str) -> bool:
        return station_id in self._sockets

    async def drop(self, station_id: str) -> None:
        await self._sockets[station_id].close()

    def assert_frames_valid(self) -> None:
        """Every frame any station sent is valid OCPP 1.6J, with Z timestamps."""
        for frames in self.frames.values():
            for frame in frames:
                if frame[0] == 2:
                    schema, payload = frame[2], frame[3]
                elif frame[0] == 3:
                    schema, payload = self._our_actions[frame[1]] + "Response", frame[2]
                else:
                    assert len(frame) == 5 and frame[2] in CALL_ERROR_CODES, frame
                    continue
                errors = [e.message for e in ocpp_schema(schema).iter_errors(payload)]
                assert not errors, (schema, payload, errors)
                for timestamp in timestamps_in(payload):
                    assert OCPP_TIMESTAMP.match(timestamp), timestamp

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        station_id = request.match_info["station_id"]
        if self.refuse_connections:
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse(protocols=("ocpp1.6",))
        await ws.prepare(request)
        self.handshakes[station_id] = {
            "protocol": ws.ws_protocol,
            "authorization": request.headers.get("Authorization"),
        }
        self._sockets[station_id] = ws
        try:
            async for message in ws:
                assert message.type is WSMsgType.TEXT, "OCPP-J uses text frames"
                frame = json.loads(message.data)
                self.frames[station_id].append(frame)
                if frame[0] == 2:
                    await self._answer(ws, frame)
                elif (reply := self._replies.pop(frame[1], None)) is not None:
                    reply.set_result(frame)
        finally:
            if self._sockets.get(station_id) is ws:
                del self._sockets[station_id]
        return ws

    async def _answer(self, ws: web.WebSocketResponse, frame: list[Any]) -> None:
        _, unique_id, action, _payload = frame
        if action in self.silent_for:
            return
        if action in self.errors_for:
            await ws.send_str(json.dumps([4, unique_id, self.errors_for[action], "refused by the test", {}]))
            return
        if self.internal_errors[action] > 0:
            self.internal_errors[action] -= 1
            await ws.send_str(json.dumps([4, unique_id, "InternalError", "retry later", {}]))
            return
        accepted = {"idTagInfo": {"status": "Accepted"}}
        if action == "BootNotification":
            status = self.boot_statuses.pop(0) if self.boot_statuses else "Accepted"
            reply = {"status": status, "currentTime": now_z(), "interval": 300 if status == "Accepted" else 0}
        elif action == "Heartbeat":
            reply = {"currentTime": now_z()}
        elif action == "StartTransaction":
            reply = {"transactionId": next(self._transaction_ids), **accepted}
        elif action in ("Authorize", "StopTransaction"):
            reply = accepted
        else:  # StatusNotification, MeterValues, Diagnostics/FirmwareStatusNotification
            reply = {}
        await ws.send_str(json.dumps([3, unique_id, reply]))


async def eventually(condition: Callable[[], object], within: float = 3.0) -> None:
    """Wait until `condition()` holds. Polling, because conditions mix station and CSMS state
    that no single event covers."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
