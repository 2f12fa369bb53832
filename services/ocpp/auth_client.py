"""The gateway's calls to the auth service: station passwords and id tags."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import aiohttp
import structlog

log = structlog.get_logger(__name__)

# An accepted (station, password) is remembered this long, so a reconnect storm costs
# no password hashing and survives a short auth outage.
VERIFIED_TTL_S = 600.0
# OCPP's answer when the auth service cannot be asked: the station must not be stuck.
FALLBACK_ID_TAG_INFO = {"status": "Accepted"}


class AuthUnavailable(Exception):
    pass


class AuthClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self._http = http
        self._base_url = base_url
        # (station, password digest) -> (valid until, whether the station has a password at all)
        self._verified: dict[tuple[str, bytes], tuple[float, bool]] = {}

    async def station_may_connect(self, station_id: str, password: str | None, *,
                                  password_required: bool = False) -> bool:
        """True when the station gave the right password, or has no credentials and
        `password_required` is false (security profile 2 always needs one)."""
        digest = hashlib.sha256((password or "").encode()).digest()
        until, required = self._verified.get((station_id, digest), (0.0, False))
        if until > time.monotonic() and (required or not password_required):
            return True
        try:
            async with self._http.post(f"{self._base_url}/internal/auth/stations/{station_id}/check",
                                       json={"password": password}) as response:
                if response.status != 200:
                    raise AuthUnavailable(f"auth answered {response.status}")
                verdict = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthUnavailable(repr(exc)) from exc
        if verdict["valid"]:
            self._verified[(station_id, digest)] = (time.monotonic() + VERIFIED_TTL_S, bool(verdict["required"]))
        return bool(verdict["valid"]) and (bool(verdict["required"]) or not password_required)

    async def set_station_password(self, station_id: str, password: str) -> None:
        """Store a station's new Basic-auth password (an accepted AuthorizationKey); the old
        one stops working on this replica at once."""
        try:
            async with self._http.put(f"{self._base_url}/internal/auth/stations/{station_id}/password",
                                      json={"password": password}) as response:
                if response.status != 204:
                    raise AuthUnavailable(f"auth answered {response.status}: {await response.text()}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthUnavailable(repr(exc)) from exc
        for key in [key for key in self._verified if key[0] == station_id]:
            del self._verified[key]

    async def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        try:
            async with self._http.post(f"{self._base_url}/internal/auth/authorize",
                                       json={"id_tag": id_tag}) as response:
                if response.status == 200:
                    info: dict[str, Any] = (await response.json())["idTagInfo"]
                    return info
                log.warning("auth client returned non-success", status=response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("auth client returned non-success", error=repr(exc))
        return FALLBACK_ID_TAG_INFO
