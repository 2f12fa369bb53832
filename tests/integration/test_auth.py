"""Station passwords on the upgrade, id tags in Authorize/StartTransaction, API tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest

from chargeplane.common.tokens import issue_token, verify_token
from chargeplane.services.auth.repository import set_station_password
from chargeplane.services.ocpp.core.auth_client import FALLBACK_ID_TAG_INFO, AuthClient
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


async def test_stations_connecting_at_once_share_password_checks_and_a_wrong_one_is_still_refused(platform) -> None:
    """A reconnect storm: the gateway checks the passwords of the stations that arrive
    together in a few requests to auth, and each station still gets its own verdict."""
    secured = [f"STORM-SECURE-{n}" for n in range(4)]
    open_ids = [f"STORM-OPEN-{n}" for n in range(40)]
    await platform.db.executemany("INSERT INTO charging_stations (id) VALUES ($1)",
                                  [(station,) for station in secured + open_ids])
    for station in secured:
        await set_station_password(platform.db, station, f"{station} password")
    requests: list[str] = []
    counting = aiohttp.TraceConfig()

    async def count(_session: object, _context: object, params: aiohttp.TraceRequestStartParams) -> None:
        requests.append(params.url.path)

    counting.on_request_start.append(count)
    async with aiohttp.ClientSession(trace_configs=[counting]) as session:
        auth = AuthClient(session, platform.url("auth"))
        asked = [(station, f"{station} password") for station in secured] + [(secured[0], "wrong password")] \
            + [(secured[1], None)] + [(station, None) for station in open_ids]
        verdicts = await asyncio.gather(*(auth.station_may_connect(station, password) for station, password in asked))
        assert verdicts == [True] * 4 + [False, False] + [True] * 40
        assert 1 <= len(requests) <= 3, requests  # one in flight, then the rest together
        # an accepted password is remembered; a refusal is asked again, and refused again
        requests.clear()
        assert await auth.station_may_connect(secured[2], f"{secured[2]} password")
        assert not await auth.station_may_connect(secured[0], "wrong password")
        assert requests == ["/internal/auth/stations/check"]


async def test_id_tags_asked_at_once_share_requests_and_keep_their_own_status(platform, http) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for tag, body in {"BATCH-GOOD": {}, "BATCH-STOLEN": {"status": "Blocked"},
                      "BATCH-OLD": {"expires_at": yesterday}}.items():
        async with http.put(platform.url("auth") + "/internal/auth/id-tags/" + tag, json=body) as response:
            assert response.status == 200
    auth = AuthClient(http, platform.url("auth"))
    tags = ["BATCH-GOOD", "BATCH-STOLEN", "BATCH-OLD", "BATCH-UNKNOWN"] * 25
    infos = await asyncio.gather(*(auth.id_tag_info(tag) for tag in tags))
    assert [info["status"] for info in infos] == ["Accepted", "Blocked", "Expired", "Accepted"] * 25
    assert "expiryDate" in infos[2]


async def test_without_auth_a_station_is_refused_for_now_and_an_id_tag_gets_the_fallback(platform, secured,
                                                                                          http) -> None:
    await platform.stop("auth")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{platform.ocpp_url}/{secured}", protocols=["ocpp1.6"],
                              headers=basic(STATION, "correct horse battery"))
    assert refused.value.status == 503
    auth = AuthClient(http, platform.url("auth"))
    assert await asyncio.gather(auth.id_tag_info("ANY"), auth.id_tag_info("OTHER")) == [FALLBACK_ID_TAG_INFO] * 2
    await platform.start("auth")
    async with http.ws_connect(f"{platform.ocpp_url}/{secured}", protocols=["ocpp1.6"],
                               headers=basic(STATION, "correct horse battery")) as ws:
        assert "currentTime" in await RawStation(ws).call("Heartbeat", {})
