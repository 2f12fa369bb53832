"""The gateway's calls to the auth service: station passwords and id tags.

Both are batched (coalescer.py): the look-ups of many stations that arrive while one
request is in flight share the next request.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from .coalescer import Coalescer

log = structlog.get_logger(__name__)

# An accepted (station, password) is remembered this long, so a station that reconnects
# costs no request and survives a short auth outage. A refusal is never remembered.
VERIFIED_TTL_S = 600.0
# OCPP's answer when the auth service cannot be asked: the station must not be stuck.
FALLBACK_ID_TAG_INFO = {"status": "Accepted"}
MAX_BATCH = 1000  # the auth service's limit per request


class AuthUnavailable(Exception):
    pass


class AuthClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self._http = http
        self._base_url = base_url
        # (station, password digest) -> (valid until, whether the station has a password at all)
        self._verified: dict[tuple[str, bytes], tuple[float, bool]] = {}
        self._station_checks: Coalescer[tuple[str, str | None], dict[str, Any]] = Coalescer(
            self._check_stations, MAX_BATCH)
        self._id_tags: Coalescer[str, dict[str, Any]] = Coalescer(self._authorize, MAX_BATCH)

    async def station_may_connect(self, station_id: str, password: str | None, *,
                                  password_required: bool = False) -> bool:
        """True when the station gave the right password, or has no credentials and
        `password_required` is false (security profile 2 always needs one)."""
        digest = hashlib.sha256((password or "").encode()).digest()
        until, required = self._verified.get((station_id, digest), (0.0, False))
        if until <= time.monotonic():
            verdict = await self._station_checks.get((station_id, password))
            if not verdict["valid"]:
                return False
            required = bool(verdict["required"])
            self._verified[(station_id, digest)] = (time.monotonic() + VERIFIED_TTL_S, required)
        return required or not password_required

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
            return await self._id_tags.get(id_tag)
        except AuthUnavailable as exc:
            log.warning("auth client returned non-success", error=str(exc))
            return FALLBACK_ID_TAG_INFO

    async def _check_stations(self, stations: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        answer = await self._post("/internal/auth/stations/check", {
            "stations": [{"station_id": station_id, "password": password} for station_id, password in stations],
        })
        verdicts: list[dict[str, Any]] = answer["results"]
        return verdicts

    async def _authorize(self, id_tags: list[str]) -> list[dict[str, Any]]:
        infos: list[dict[str, Any]] = (await self._post("/internal/auth/authorize/batch", {"id_tags": id_tags}))[
            "idTagInfo"]
        return infos

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self._http.post(self._base_url + path, json=body) as response:
                if response.status != 200:
                    raise AuthUnavailable(f"auth answered {response.status} to {path}")
                answer: dict[str, Any] = await response.json()
                return answer
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthUnavailable(repr(exc)) from exc


AUTH = web.AppKey("auth_client", AuthClient)
