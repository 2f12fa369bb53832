"""Typed application keys of the OCPP gateway."""

from __future__ import annotations

from aiohttp import web

from .auth_client import AuthClient
from .committer import GroupCommitter
from .framelog import FrameLog
from .registry import ConnectionRegistry
from .store import StationStore

REGISTRY = web.AppKey("registry", ConnectionRegistry)
STORE = web.AppKey("store", StationStore)
FRAME_LOG = web.AppKey("frame_log", FrameLog)
COMMITTER = web.AppKey("committer", GroupCommitter)
AUTH = web.AppKey("auth_client", AuthClient)
