from __future__ import annotations

from aiohttp import web

from .repository import AuthRepository
from .users import UserRepository

REPOSITORY = web.AppKey("auth_repository", AuthRepository)
USERS = web.AppKey("console_users", UserRepository)
