"""The local authorization list as the auth service keeps it: its id-tag table, where every
change takes the next list version (see migration 0005); auth answers with the whole list or
with what changed after a version."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from chargeplane.common.httpclient import HTTP
from chargeplane.common.web import ApiError
from chargeplane.services.ocpp.settings import OCPP_SETTINGS


async def id_tag_list(app: web.Application, since: int | None) -> dict[str, Any]:
    """The id tags from auth as a local list: `list_version`, `update_type` (Full, or
    Differential when `since` is a version auth can answer from) and
    `local_authorization_list`."""
    return await _from_auth(app, "/internal/auth/local-list", {} if since is None else {"since": str(since)})


async def current_version(app: web.Application) -> int:
    version: int = (await _from_auth(app, "/internal/auth/local-list/version", {}))["list_version"]
    return version


async def _from_auth(app: web.Application, path: str, params: dict[str, str]) -> dict[str, Any]:
    try:
        async with app[HTTP].get(app[OCPP_SETTINGS].auth_url + path, params=params) as response:
            if response.status == 200:
                answer: dict[str, Any] = await response.json()
                return answer
            problem = f"auth answered {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        problem = repr(exc)
    raise ApiError(503, "auth_unavailable", f"the id tags could not be read: {problem}")
