from __future__ import annotations

from typing import Literal

from aiohttp import web

from chargeplane.common.settings import ServiceSettings, TokenSettings


class AuthSettings(ServiceSettings, TokenSettings):
    service_name: str = "auth"
    port: int = 8085
    token_ttl_seconds: int = 3600
    # What Authorize/StartTransaction answer for an id tag not in `id_tags`: an open
    # network accepts any tag (the default); a closed one sets Invalid.
    unknown_id_tag_status: Literal["Accepted", "Invalid"] = "Accepted"


AUTH_SETTINGS = web.AppKey("auth_settings", AuthSettings)
