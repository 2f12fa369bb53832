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
    # The console's people: a session ends after this long unused, and this long after sign-in
    # in any case (a working day); this many wrong passwords in a row lock a user for this long.
    console_session_idle_s: float = 3600.0
    console_session_max_s: float = 12 * 3600.0
    console_lockout_failures: int = 5
    console_lockout_s: float = 900.0


AUTH_SETTINGS = web.AppKey("auth_settings", AuthSettings)
