"""Where the gateway answers what: its station listeners (plain and TLS, the ports a station,
and so anyone on the station network, reaches) serve OCPP, the upload endpoint and /healthz;
the internal API (register, delete, any command, campaigns) and /metrics answer only on the
internal listener, which is never published. Every /internal route the gateway's router has is
tried on every listener, so a route added later is checked too."""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from chargeplane.common.certificates import CertificateAuthority, certificate_pem, key_pem
from chargeplane.services.auth.repository import set_station_password
from chargeplane.services.ocpp.core.listeners import STATION_LISTENERS
from support.station import RawStation

from .conftest import Platform, running_platform

# What a path parameter is filled with (a real station id, a real command); any other: "1".
PATH_VALUES = {"station_id": "LISTENER-1", "action": "Reset"}
PASSWORD = "listener-password-01"
BASIC = "Basic " + base64.b64encode(f"LISTENER-1:{PASSWORD}".encode()).decode()


@pytest.fixture
async def platform(db, redis, database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    """The services, the gateway with its TLS listener too."""
    ca = CertificateAuthority.generate("Listener test CA")
    ca.write(tmp_path / "ca.crt", tmp_path / "ca.key")
    server, server_key = ca.issue_server_certificate(["127.0.0.1"])
    (tmp_path / "tls.crt").write_text(certificate_pem(server))
    (tmp_path / "tls.key").write_text(key_pem(server_key))
    overrides: dict[str, dict[str, object]] = {"ocpp": {
        "tls_port": 0, "tls_cert_file": tmp_path / "tls.crt", "tls_key_file": tmp_path / "tls.key"}}
    async with running_platform(db, database_url, redis_url, overrides=overrides) as platform:
        yield platform


@pytest.fixture
def tls(tmp_path: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=tmp_path / "ca.crt")


def listeners(platform: Platform) -> dict[str, str]:
    ports = platform.runners["ocpp"].app[STATION_LISTENERS]
    return {"station": f"http://127.0.0.1:{ports.port}", "station-tls": f"https://127.0.0.1:{ports.tls_port}",
            "internal": platform.url("ocpp")}


def internal_routes(platform: Platform) -> list[tuple[str, str]]:
    """(method, path) of every /internal route of the gateway's app, its parameters filled in."""
    found = []
    for route in platform.runners["ocpp"].app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if canonical.startswith("/internal/") and route.method != "HEAD":
            found.append((route.method, re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), canonical)))
    return sorted(set(found))


async def answer(http: aiohttp.ClientSession, method: str, url: str, tls: ssl.SSLContext) -> tuple[int, str]:
    """The status and the error code of the answer (None for no error body)."""
    body = {} if method in ("POST", "PUT") else None
    async with http.request(method, url, json=body, ssl=tls if url.startswith("https") else True) as response:
        error = (await response.json()).get("error", {}) if response.content_type == "application/json" else {}
        return response.status, error.get("code") if isinstance(error, dict) else None


async def test_every_internal_route_answers_only_on_the_internal_listener(platform: Platform, http, tls) -> None:
    routes = internal_routes(platform)
    assert len(routes) >= 30 and ("PUT", "/internal/stations/LISTENER-1") in routes
    where = listeners(platform)
    for method, path in routes:
        for listener in ("station", "station-tls"):
            # no route there: aiohttp's own 404, whatever the method
            assert await answer(http, method, where[listener] + path, tls) == (404, "not_found"), (listener, path)
        status, code = await answer(http, method, where["internal"] + path, tls)
        assert (status, code) != (404, "not_found"), f"{method} {path} is not served on the internal listener"


async def test_metrics_and_readiness_only_on_the_internal_listener(platform: Platform, http, tls) -> None:
    where = listeners(platform)
    for listener in ("station", "station-tls"):
        for path in ("/metrics", "/readyz"):
            assert (await answer(http, "GET", where[listener] + path, tls))[0] == 404, (listener, path)
        # what a probe of the station port asks
        assert await answer(http, "GET", where[listener] + "/healthz", tls) == (200, None)
    async with http.get(where["internal"] + "/metrics") as response:
        assert response.status == 200 and "chargeplane_ocpp_connected_stations" in await response.text()
    assert (await answer(http, "GET", where["internal"] + "/readyz", tls))[0] == 200


async def test_stations_connect_and_upload_on_the_station_listeners_only(platform: Platform, http, tls) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('LISTENER-1')")
    await set_station_password(platform.db, "LISTENER-1", PASSWORD)  # over TLS a password is a must
    where = listeners(platform)
    context: ssl.SSLContext | bool
    for base, context in ((where["station"], True), (where["station-tls"], tls)):
        url = base.replace("http", "ws", 1) + "/ocpp/LISTENER-1"
        async with http.ws_connect(url, protocols=["ocpp1.6"], ssl=context, headers={"Authorization": BASIC}) as ws:
            assert "currentTime" in await RawStation(ws).call("Heartbeat", {})
        # the upload endpoint is there: an unknown location is its own 404
        assert await answer(http, "POST", base + "/uploads/not-a-token", tls) == (404, "upload_location_unknown")
    # and neither is on the internal listener
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(where["internal"].replace("http", "ws", 1) + "/ocpp/LISTENER-1", protocols=["ocpp1.6"])
    assert refused.value.status == 404
    assert await answer(http, "POST", where["internal"] + "/uploads/not-a-token", tls) == (404, "not_found")
