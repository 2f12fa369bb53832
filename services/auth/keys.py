from __future__ import annotations

from aiohttp import web

from .repository import AuthRepository

REPOSITORY = web.AppKey("auth_repository", AuthRepository)
