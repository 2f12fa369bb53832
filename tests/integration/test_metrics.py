"""`/metrics` on every service, and a charging session moving the counters operators watch."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.station import RawStation, energy_sample, now_z

STATION = "CP-METRICS-1"


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_every_service_serves_metrics(platform, http: aiohttp.ClientSession) -> None:
    """The operator puts scrape annotations on every platform pod: each one must answer."""
    for service in ("ocpp", "sessions", "billing", "telemetry", "auth"):
        samples = await scrape(http, platform.url(service))
        assert value(samples, "chargeplane_db_pool_max_connections", service=service) > 0
    # the api-gateway has no database: its scrape has the rest (it answered 500 once)
    samples = await scrape(http, platform.url("api_gateway"))
    assert any(name == "python_info" for name, _ in samples)


async def test_a_charging_session_moves_the_counters(platform, http: aiohttp.ClientSession) -> None:
    gateway, telemetry = platform.url("ocpp"), platform.url("telemetry")
    before, stored_before = await scrape(http, gateway), await scrape(http, telemetry)
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        await station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "T1"})
        start = await station.call("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 0,
                                                        "timestamp": now_z()})
        await station.call("MeterValues", {"connectorId": 1, "transactionId": start["transactionId"],
                                           "meterValue": [energy_sample(1500)]})
        await station.call("StopTransaction", {"transactionId": start["transactionId"], "meterStop": 2000,
                                               "timestamp": now_z()})
        await station.call_error("Heartbeat", {"unexpected": True})
        during = await scrape(http, gateway)
        assert value(during, "chargeplane_ocpp_connected_stations") == 1
    await platform.outbox_drained()
    after, stored_after = await scrape(http, gateway), await scrape(http, telemetry)

    def moved(name: str, samples_before: dict = before, samples_after: dict = after, **labels: str) -> float:
        return value(samples_after, name, **labels) - value(samples_before, name, **labels)

    for action in ("BootNotification", "StartTransaction", "MeterValues", "StopTransaction"):
        assert moved("chargeplane_ocpp_messages_total", action=action, outcome="callresult") == 1, action
    assert moved("chargeplane_ocpp_messages_total", action="Heartbeat", outcome="callerror") == 1
    assert moved("chargeplane_ocpp_callerrors_total", code="FormationViolation") == 1
    assert moved("chargeplane_outbox_deliveries_total", destination="sessions",
                 path="/internal/ocpp/session-start", outcome="ok") == 1
    assert moved("chargeplane_outbox_deliveries_total", destination="telemetry",
                 path="/internal/ocpp/meter-values/batch", outcome="ok") == 1
    assert moved("chargeplane_downstream_request_duration_seconds_count", destination="sessions",
                 path="/internal/outbox/batch", outcome="ok") >= 1
    assert moved("chargeplane_telemetry_sampled_values_stored_total", stored_before, stored_after) == 3
    assert value(after, "chargeplane_outbox_pending_events", source="ocpp", destination="telemetry") == 0
    assert value(after, "chargeplane_ocpp_connected_stations") == 0


async def test_a_refused_handshake_is_counted(platform, http: aiohttp.ClientSession) -> None:
    before = await scrape(http, platform.url("ocpp"))
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(f"{platform.ocpp_url}/NOBODY", protocols=["ocpp1.6"])
    after = await scrape(http, platform.url("ocpp"))
    name = "chargeplane_ocpp_handshake_refusals_total"
    assert value(after, name, reason="unknown_station") - value(before, name, reason="unknown_station") == 1
