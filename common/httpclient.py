"""The traced HTTP client a service uses to call the others."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
from aiohttp import web

from .settings import SETTINGS

HTTP = web.AppKey("http", aiohttp.ClientSession)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def http_client_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    timeout = aiohttp.ClientTimeout(total=settings.outbox_request_timeout)
    async with aiohttp.ClientSession(timeout=timeout, json_serialize=_dumps) as session:
        app[HTTP] = session
        yield
