"""Typed application keys for the plumbing every service shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from .settings import ServiceSettings

if TYPE_CHECKING:
    from .outbox import OutboxRelay

SETTINGS = web.AppKey("settings", ServiceSettings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
HTTP = web.AppKey("http", aiohttp.ClientSession)
OUTBOX: web.AppKey[OutboxRelay] = web.AppKey("outbox")
# outbox event path -> its view, for the events that come in batches (`event_batches`)
EVENT_VIEWS: web.AppKey[dict[str, Callable[[Any], Awaitable[web.Response]]]] = web.AppKey("event_views")
