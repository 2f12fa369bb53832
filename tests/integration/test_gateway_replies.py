"""What the gateway answers, checked against OCPP: every station message its features
handle, sent over a real socket, and the CALLRESULT validated against the route's reply
schema (`Route.response_schema`); and a station's reply to a command that breaks its schema
is recorded by no feature and comes back to the API as such."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import orjson

from chargeplane.common.certificates import new_key, station_csr
from chargeplane.services.ocpp.core.feature import FEATURES
from chargeplane.services.ocpp.core.schemas import schema
from support.station import RawStation, energy_sample, now_z

STATION = "CP-REPLIES"
TAG = "REPLY-TAG"

# A valid request of each action a station sends, the transaction started before it if needed.
EXAMPLES: dict[str, Callable[[int], dict[str, Any]]] = {
    "BootNotification": lambda _: {"chargePointVendor": "ChargePlane", "chargePointModel": "Replies"},
    "Heartbeat": lambda _: {},
    "StatusNotification": lambda _: {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"},
    "Authorize": lambda _: {"idTag": TAG},
    "StartTransaction": lambda _: {"connectorId": 1, "idTag": TAG, "meterStart": 0, "timestamp": now_z()},
    "MeterValues": lambda transaction_id: {"connectorId": 1, "transactionId": transaction_id,
                                           "meterValue": [energy_sample(150)]},
    "StopTransaction": lambda transaction_id: {"transactionId": transaction_id, "idTag": TAG, "meterStop": 300,
                                               "timestamp": now_z(), "transactionData": [energy_sample(300)]},
    "DataTransfer": lambda _: {"vendorId": "org.chargeplane", "messageId": "echo", "data": "hello"},
    "FirmwareStatusNotification": lambda _: {"status": "Idle"},
    "DiagnosticsStatusNotification": lambda _: {"status": "Idle"},
    "LogStatusNotification": lambda _: {"status": "Idle", "requestId": 1},
    "SignedFirmwareStatusNotification": lambda _: {"status": "Idle", "requestId": 1},
    "SignCertificate": lambda _: {"csr": station_csr(new_key(), STATION, "ChargePlane")},
    "SecurityEventNotification": lambda _: {"type": "StartupOfTheDevice", "timestamp": now_z()},
}
# A StartTransaction first, so that MeterValues and StopTransaction belong to its transaction.
ORDER = ["StartTransaction", "MeterValues", "StopTransaction"]


async def test_every_handler_answers_what_its_reply_schema_allows(platform, http) -> None:
    routes = platform.runners["ocpp"].app[FEATURES].routes
    assert set(EXAMPLES) == set(routes), "every routed action needs an example here"
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    transaction_id = 0
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        for action in ORDER + sorted(set(routes) - set(ORDER)):
            route = routes[action]
            request = EXAMPLES[action](transaction_id)
            jsonschema_rs.Draft4Validator(schema(route.request_schema)).validate(request)
            reply = await station.send_raw(orjson.dumps([2, f"r-{action}", action, request]).decode())
            assert reply[:2] == [3, f"r-{action}"], f"{action} answered {reply}"
            jsonschema_rs.Draft4Validator(schema(route.response_schema)).validate(reply[2])
            transaction_id = reply[2].get("transactionId", transaction_id)
    assert transaction_id > 0


async def test_a_reply_that_breaks_its_schema_is_recorded_by_no_feature(platform, http) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        await RawStation(ws).call("Heartbeat", {})

        async def command() -> tuple[int, dict[str, Any]]:
            url = f"{platform.url('ocpp')}/internal/stations/{STATION}/commands/GetLocalListVersion"
            async with http.post(url, json={}) as response:
                return response.status, await response.json()

        sent = asyncio.create_task(command())
        call = await ws.receive_json(timeout=5)
        assert call[2] == "GetLocalListVersion"
        await ws.send_json([3, call[1], {"listVersion": "seven"}])  # an integer, says the schema
        status, body = await sent
    assert (status, body["error"]["code"]) == (502, "station_reply_invalid")
    assert body["error"]["details"]["reply"] == {"listVersion": "seven"}
    assert await platform.db.fetchval("SELECT count(*) FROM station_local_lists") == 0
