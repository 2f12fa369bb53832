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
        self._verified: dict[tuple[str, bytes], float] = {}
        self._station_checks: Coalescer[tuple[str, str | None], bool] = Coalescer(self._check_stations, MAX_BATCH)
        self._id_tags: Coalescer[str, dict[str, Any]] = Coalescer(self._authorize, MAX_BATCH)

    async def station_may_connect(self, station_id: str, password: str | None) -> bool:
        """True when the station has no credentials or gave the right password."""
        digest = hashlib.sha256((password or "").encode()).digest()
        if self._verified.get((station_id, digest), 0.0) > time.monotonic():
            return True
        valid = await self._station_checks.get((station_id, password))
        if valid:
            self._verified[(station_id, digest)] = time.monotonic() + VERIFIED_TTL_S
        return valid

    async def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        try:
            return await self._id_tags.get(id_tag)
        except AuthUnavailable as exc:
            log.warning("auth client returned non-success", error=str(exc))
            return FALLBACK_ID_TAG_INFO

    async def _check_stations(self, stations: list[tuple[str, str | None]]) -> list[bool]:
        answer = await self._post("/internal/auth/stations/check", {
            "stations": [{"station_id": station_id, "password": password} for station_id, password in stations],
        })
        return [bool(verdict["valid"]) for verdict in answer["results"]]

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
