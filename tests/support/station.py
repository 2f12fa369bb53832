"""A bare OCPP-J test station: raw frames over a real WebSocket, no station logic,
so tests say exactly what goes on the wire and see exactly what comes back."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jsonschema_rs
import orjson

from chargeplane.services.ocpp.core.schemas import schema


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def assert_valid_reply(action: str, payload: dict[str, Any]) -> None:
    """Every CALLRESULT we send must validate against the official 1.6 reply schema."""
    jsonschema_rs.Draft4Validator(schema(f"{action}Response")).validate(payload)


@dataclass
class RawStation:
    """CALLs the CSMS sends meanwhile (e.g. the GetConfiguration after an accepted boot) are
    kept in `csms_calls` and answered from `answers` (action -> CALLRESULT payload), else with
    a NotImplemented CALLERROR, as a station without that feature would."""

    ws: aiohttp.ClientWebSocketResponse
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    csms_calls: list[list[Any]] = field(default_factory=list)

    async def send_raw(self, text: str) -> list[Any]:
        await self.ws.send_str(text)
        return await self.receive_reply()

    async def receive_reply(self) -> list[Any]:
        """The next frame that is not a CALL from the CSMS (those are answered on the way)."""
        while True:
            frame = orjson.loads(await self.ws.receive_str(timeout=10))
            if not (isinstance(frame, list) and frame[:1] == [2] and len(frame) == 4):
                return frame
            self.csms_calls.append(frame)
            _, unique_id, action, _ = frame
            answer = ([3, unique_id, self.answers[action]] if action in self.answers
                      else [4, unique_id, "NotImplemented", f"this test station does not do {action}", {}])
            await self.ws.send_str(orjson.dumps(answer).decode())

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL; return the CALLRESULT payload (validated) or fail on a CALLERROR."""
        reply = await self.send_raw(orjson.dumps([2, f"t{next(self.ids)}", action, payload]).decode())
        assert reply[0] == 3, f"{action} answered {reply}"
        assert_valid_reply(action, reply[2])
        return reply[2]

    async def call_error(self, action: str, payload: Any) -> list[Any]:
        reply = await self.send_raw(orjson.dumps([2, f"e{next(self.ids)}", action, payload]).decode())
        assert reply[0] == 4, f"{action} should fail, got {reply}"
        return reply


def energy_sample(wh: int, at: str | None = None, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {"timestamp": at or now_z(), "sampledValue": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": context},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W", "context": context},
        {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1", "context": context},
    ]}
