from __future__ import annotations

from aiohttp import web

from .repository import SessionRepository

REPOSITORY = web.AppKey("sessions_repository", SessionRepository)
