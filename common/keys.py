"""Typed application keys for the plumbing every service shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from .settings import ServiceSettings

if TYPE_CHECKING:
    from .event_batches import EventRoutes
    from .outbox import OutboxRelay

SETTINGS = web.AppKey("settings", ServiceSettings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
HTTP = web.AppKey("http", aiohttp.ClientSession)
OUTBOX: web.AppKey[OutboxRelay] = web.AppKey("outbox")
# the views of the outbox events that come in batches (`event_batches`)
EVENT_ROUTES: web.AppKey[EventRoutes] = web.AppKey("event_routes")
