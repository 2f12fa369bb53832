"""The api-gateway's path parameters: checked against their documented pattern, and nothing in
one reaches another path of the service it is forwarded to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chargeplane.common.tokens import issue_token
from chargeplane.services.api_gateway.app import create_app
from chargeplane.services.api_gateway.settings import ApiGatewaySettings

Upstream = tuple[str, list[str]]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """A stand-in for every service the api-gateway forwards to: (its URL, the paths it was asked for)."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/"), asked


@pytest.fixture
async def api(upstream: Upstream) -> AsyncIterator[TestClient]:
    url = upstream[0]
    settings = ApiGatewaySettings(ocpp_http_url=url, sessions_url=url, billing_url=url, telemetry_url=url,
                                  auth_url=url)
    async with TestClient(TestServer(create_app(settings))) as client:
        token = issue_token("client", ["read", "operate"], settings.jwt_secret, settings.jwt_issuer, 60)
        client.session.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.mark.parametrize("path", ["/api/v1/stations/a%20b", "/api/v1/stations/a%2F..%2Fb/maintenance",
                                  "/api/v1/stations/a%20b/files/1"])
async def test_a_station_id_outside_the_rule_is_refused(api: TestClient, upstream: Upstream, path: str) -> None:
    response = await api.get(path)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_station_id"
    assert upstream[1] == []


async def test_a_station_id_within_the_rule_is_forwarded(api: TestClient, upstream: Upstream) -> None:
    response = await api.get("/api/v1/stations/depot:CP+1%7Cbay=2@site*A_b.c")
    assert response.status == 200
    assert upstream[1] == ["/internal/stations/depot:CP+1|bay=2@site*A_b.c"]


# The service sees one parameter holding `../` (the stand-in shows it decoded). Unquoted, the `..`
# was resolved and each reached an internal endpoint the public API does not offer: deregistering
# a station, dropping its password (it then connects without one), setting one of the caller's.
@pytest.mark.parametrize(("method", "path", "forwarded"), [
    ("DELETE", "/api/v1/charging-sites/..%2Fstations%2FCP-1", "/internal/charging-sites/../stations/CP-1"),
    ("DELETE", "/api/v1/id-tags/..%2Fstations%2FCP-1%2Fpassword", "/internal/auth/id-tags/../stations/CP-1/password"),
    ("PUT", "/api/v1/id-tags/..%2Fstations%2FCP-1%2Fpassword", "/internal/auth/id-tags/../stations/CP-1/password"),
])
async def test_a_path_parameter_stays_one_parameter_upstream(api: TestClient, upstream: Upstream, method: str,
                                                              path: str, forwarded: str) -> None:
    await api.request(method, path, json={"password": "chosen-by-the-caller"} if method == "PUT" else None)
    assert upstream[1] == [forwarded]
