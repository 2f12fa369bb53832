"""Station passwords on the upgrade, id tags in Authorize/StartTransaction, API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest

from chargeplane.common.tokens import issue_token, verify_token
from chargeplane.services.auth.repository import set_station_password
from support.station import RawStation, now_z

STATION = "SECURE-1"


@pytest.fixture
async def secured(platform) -> str:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    await set_station_password(platform.db, STATION, "correct horse battery")
    return STATION


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(login, password)}


@pytest.mark.parametrize(
    "headers", [{}, basic(STATION, "wrong password"), basic("SOMEONE-ELSE", "correct horse battery")]
)
async def test_a_station_with_credentials_needs_the_right_password(platform, secured, http, headers) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{platform.ocpp_url}/{secured}", protocols=["ocpp1.6"], headers=headers)
    assert refused.value.status == 401


async def test_a_malformed_authorization_header_is_a_400(platform, secured, http) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{platform.ocpp_url}/{secured}", protocols=["ocpp1.6"],
                              headers={"Authorization": "Basic !!!"})
    assert refused.value.status == 400


async def test_the_right_password_connects(platform, secured, http) -> None:
    headers = basic(STATION, "correct horse battery")
    async with http.ws_connect(f"{platform.ocpp_url}/{secured}", protocols=["ocpp1.6"], headers=headers) as ws:
        assert "currentTime" in await RawStation(ws).call("Heartbeat", {})


async def test_id_tags_decide_authorize_and_start(platform, http) -> None:
    auth_url = platform.url("auth") + "/internal/auth/id-tags/"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for tag, body in {"GOOD": {}, "STOLEN": {"status": "Blocked"}, "OLD": {"expires_at": yesterday}}.items():
        async with http.put(auth_url + tag, json=body) as response:
            assert response.status == 200
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('TAGS-1')")
    async with http.ws_connect(f"{platform.ocpp_url}/TAGS-1", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        statuses = {tag: (await station.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"]
                    for tag in ("GOOD", "STOLEN", "OLD", "NEVER-SEEN")}
        assert statuses == {"GOOD": "Accepted", "STOLEN": "Blocked", "OLD": "Expired", "NEVER-SEEN": "Accepted"}
        start = await station.call("StartTransaction", {"connectorId": 1, "idTag": "STOLEN", "meterStart": 0,
                                                        "timestamp": now_z()})
        assert start["idTagInfo"]["status"] == "Blocked" and start["transactionId"] > 0


async def test_client_credentials_grant_issues_scoped_tokens(platform, http) -> None:
    auth = platform.url("auth")
    async with http.put(auth + "/internal/auth/clients/app-1",
                        json={"secret": "s" * 20, "scopes": ["read"]}) as response:
        assert response.status == 200
    async with http.post(auth + "/internal/auth/token", data={"grant_type": "client_credentials",
                                                               "client_id": "app-1", "client_secret": "s" * 20}) as r:
        body = await r.json()
    claims = verify_token(body["access_token"], "change-me-chargeplane-dev-secret-32b", "chargeplane")
    assert (claims["sub"], claims["scope"], body["token_type"]) == ("app-1", "read", "Bearer")
    async with http.post(auth + "/internal/auth/token",
                         json={"client_id": "app-1", "client_secret": "wrong"}) as response:
        assert response.status == 401
    async with http.post(auth + "/internal/auth/token",
                         json={"client_id": "app-1", "client_secret": "s" * 20, "scope": "operate"}) as response:
        assert response.status == 403


def test_expired_or_forged_tokens_are_refused() -> None:
    expired = issue_token("c", ["read"], "k" * 32, "chargeplane", ttl_seconds=-1)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(expired, "k" * 32, "chargeplane")
    with pytest.raises(jwt.InvalidSignatureError):
        verify_token(issue_token("c", ["read"], "k" * 32, "chargeplane", 60), "x" * 32, "chargeplane")
