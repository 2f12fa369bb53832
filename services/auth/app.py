"""The auth service: API tokens, station credentials (OCPP security profile 1), id tags."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.web import base_app

from . import console_views, views
from .repository import REPOSITORY, AuthRepository
from .settings import AUTH_SETTINGS, AuthSettings
from .users import USERS, LockoutPolicy, SessionPolicy, UserRepository


async def _repository_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[AUTH_SETTINGS]
    app[REPOSITORY] = AuthRepository(app[DB_POOL])
    app[USERS] = UserRepository(
        app[DB_POOL], LockoutPolicy(settings.console_lockout_failures, settings.console_lockout_s),
        SessionPolicy(settings.console_session_idle_s, settings.console_session_max_s))
    yield


def create_app(settings: AuthSettings) -> web.Application:
    app = base_app(settings)
    app[AUTH_SETTINGS] = settings
    app.cleanup_ctx.append(_repository_context)
    app.router.add_post("/internal/auth/token", views.token)
    app.router.add_put("/internal/auth/clients/{client_id}", views.put_client)
    app.router.add_put("/internal/auth/stations/{station_id}/password", views.put_station_password)
    app.router.add_delete("/internal/auth/stations/{station_id}/password", views.delete_station_password)
    app.router.add_post("/internal/auth/stations/{station_id}/check", views.check_station)
    app.router.add_post("/internal/auth/stations/check", views.check_stations)
    app.router.add_post("/internal/auth/authorize", views.authorize)
    app.router.add_post("/internal/auth/authorize/batch", views.authorize_batch)
    app.router.add_get("/internal/auth/id-tags", views.list_id_tags)
    app.router.add_get("/internal/auth/id-tags/{id_tag}", views.get_id_tag)
    app.router.add_put("/internal/auth/id-tags/{id_tag}", views.put_id_tag)
    app.router.add_delete("/internal/auth/id-tags/{id_tag}", views.delete_id_tag)
    app.router.add_get("/internal/auth/local-list", views.get_local_list)
    app.router.add_get("/internal/auth/local-list/version", views.get_local_list_version)
    console_views.add_routes(app)
    return app
