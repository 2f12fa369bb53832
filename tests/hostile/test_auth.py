"""Credentials under attack: station passwords wrong, missing, for another station or brute
forced; API tokens expired, tampered with, signed with another key or not signed at all."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from chargeplane.common.settings import TokenSettings
from chargeplane.common.tokens import issue_token
from support.platform import RunningPlatform

from .conftest import PASSWORD, log_events, upgrade_status


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def test_a_station_needs_its_own_password(ocpp_url: str) -> None:
    url = f"{ocpp_url}/LOCKED-1"
    assert upgrade_status(url, {}) == 401
    assert upgrade_status(url, basic("LOCKED-1", "not the password")) == 401
    assert upgrade_status(url, basic("LOCKED-2", PASSWORD)) == 401, "another station's name in the Basic header"
    assert upgrade_status(url, basic("LOCKED-1", PASSWORD)) == 101


def test_password_guessing_is_throttled(platform: RunningPlatform, ocpp_url: str) -> None:
    url = f"{ocpp_url}/LOCKED-2"
    guesses = [upgrade_status(url, basic("LOCKED-2", f"guess-{n}")) for n in range(7)]
    assert guesses == [401] * 5 + [429] * 2, "five wrong guesses a minute, then no more answers"
    assert upgrade_status(url, basic("LOCKED-2", PASSWORD)) == 429, "not even the right one: no oracle"
    assert [e for e in log_events(platform, "ocpp", "station authentication throttled")
            if e["station_id"] == "LOCKED-2"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def api(platform: RunningPlatform) -> str:
    return platform.env["API_URL"]


@pytest.fixture(scope="module")
def token(platform: RunningPlatform, api: str) -> str:
    secret = dict(line.split("=", 1) for line in platform.cli("client", "add", "hostile", "--scopes", "read")
                  .splitlines())["client_secret"]
    request = urllib.request.Request(f"{api}/auth/token", method="POST", headers={"content-type": "application/json"},
                                     data=json.dumps({"client_id": "hostile", "client_secret": secret}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["access_token"])


def api_status(api: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{api}/stations", headers=headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def forged_tokens(token: str) -> dict[str, str]:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    settings = TokenSettings()
    return {
        "expired": issue_token("hostile", ["read"], settings.jwt_secret, settings.jwt_issuer, ttl_seconds=-1),
        "tampered": f"{header}.{_b64({**claims, 'scope': 'read operate', 'sub': 'admin'})}.{signature}",
        "another key": issue_token("hostile", ["read"], "another-secret-of-32-bytes-length!", settings.jwt_issuer, 60),
        "another issuer": issue_token("hostile", ["read"], settings.jwt_secret, "someone-else", 60),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "garbage": "not.a.jwt",
    }


def test_only_a_genuine_unexpired_token_opens_the_api(api: str, token: str) -> None:
    assert api_status(api, token) == 200
    assert api_status(api, None) == 401
    refused = {name: api_status(api, forged) for name, forged in forged_tokens(token).items()}
    assert refused == dict.fromkeys(refused, 401)
