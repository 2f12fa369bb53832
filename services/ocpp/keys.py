"""Typed application keys of the OCPP gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .auth_client import AuthClient
from .committer import GroupCommitter
from .framelog import FrameLog
from .registry import ConnectionRegistry
from .store import StationStore

if TYPE_CHECKING:
    from .commands import CommandRouter
    from .site_limits import SiteBalancer

REGISTRY = web.AppKey("registry", ConnectionRegistry)
STORE = web.AppKey("store", StationStore)
FRAME_LOG = web.AppKey("frame_log", FrameLog)
COMMITTER = web.AppKey("committer", GroupCommitter)
AUTH = web.AppKey("auth_client", AuthClient)
COMMANDS: web.AppKey[CommandRouter] = web.AppKey("commands")
SITES: web.AppKey[SiteBalancer] = web.AppKey("sites")
