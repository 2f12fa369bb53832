"""Typed application keys of the OCPP gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .auth_client import AuthClient
from .committer import GroupCommitter
from .framelog import FrameLog
from .limits import AuthThrottle, HandshakeSlots
from .registry import ConnectionRegistry
from .store import StationStore

if TYPE_CHECKING:
    from .commands import CommandRouter
    from .configuration import ConfigurationSync
    from .firmware_campaigns import CampaignDispatcher
    from .security import StationSecurity
    from .site_limits import SiteBalancer
    from .tls import TlsListener

REGISTRY = web.AppKey("registry", ConnectionRegistry)
STORE = web.AppKey("store", StationStore)
FRAME_LOG = web.AppKey("frame_log", FrameLog)
COMMITTER = web.AppKey("committer", GroupCommitter)
AUTH = web.AppKey("auth_client", AuthClient)
AUTH_THROTTLE = web.AppKey("auth_throttle", AuthThrottle)
HANDSHAKES = web.AppKey("handshakes", HandshakeSlots)
COMMANDS: web.AppKey[CommandRouter] = web.AppKey("commands")
CAMPAIGNS: web.AppKey[CampaignDispatcher] = web.AppKey("firmware_campaigns")
CONFIGURATION: web.AppKey[ConfigurationSync] = web.AppKey("configuration")
# Called with the station id once a station's BootNotification was answered Accepted (the
# reply already sent): where the CSMS starts calls of its own, as OCPP 1.6 allows only then.
SECURITY: web.AppKey[StationSecurity] = web.AppKey("security")
TLS_LISTENER: web.AppKey[TlsListener] = web.AppKey("tls_listener")
SITES: web.AppKey[SiteBalancer] = web.AppKey("sites")
