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
        self._verified: dict[tuple[str, bytes], float] = {}

    async def station_may_connect(self, station_id: str, password: str | None) -> bool:
        """True when the station has no credentials or gave the right password."""
        digest = hashlib.sha256((password or "").encode()).digest()
        if self._verified.get((station_id, digest), 0.0) > time.monotonic():
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
            self._verified[(station_id, digest)] = time.monotonic() + VERIFIED_TTL_S
        return bool(verdict["valid"])

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
