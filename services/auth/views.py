"""The auth service's HTTP views: tokens, station credentials, id tags."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chargeplane.common.station_ids import StationId
from chargeplane.common.tokens import Scope, issue_token
from chargeplane.common.web import ApiError, json_response, read_json

from .repository import REPOSITORY
from .settings import AUTH_SETTINGS


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grant_type: Literal["client_credentials"] = "client_credentials"
    client_id: str = Field(min_length=1, max_length=100)
    client_secret: str = Field(min_length=1, max_length=200)
    scope: str | None = None


class ClientRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=16, max_length=200)
    scopes: list[Scope] = Field(default=["read"], min_length=1)


class StationPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=8, max_length=40)  # OCPP 1.6 security: 16-40 recommended


class StationCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = None


# Most look-ups one batch request carries (the gateway sends what queued up meanwhile).
MAX_BATCH = 1000


class StationCheckItem(StationCheck):
    station_id: StationId


class StationChecks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stations: list[StationCheckItem] = Field(min_length=1, max_length=MAX_BATCH)


class IdTag(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expires_at: AwareDatetime | None = None
    parent_id_tag: str | None = Field(default=None, max_length=20)


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_tag: str = Field(min_length=1, max_length=20)


class AuthorizeBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_tags: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(min_length=1, max_length=MAX_BATCH)


async def token(request: web.Request) -> web.Response:
    """OAuth2 client-credentials grant, JSON or form-encoded."""
    if request.content_type == "application/x-www-form-urlencoded":
        body = TokenRequest.model_validate(dict(await request.post()))
    else:
        body = TokenRequest.model_validate(await read_json(request))
    scopes = await request.app[REPOSITORY].client_scopes(body.client_id, body.client_secret)
    if scopes is None:
        raise ApiError(401, "invalid_client", "unknown client or wrong secret")
    if body.scope:
        wanted = body.scope.split()
        if not set(wanted) <= set(scopes):
            raise ApiError(403, "invalid_scope", f"client may use only: {' '.join(scopes)}")
        scopes = wanted
    settings = request.app[AUTH_SETTINGS]
    access_token = issue_token(body.client_id, scopes, settings.jwt_secret, settings.jwt_issuer,
                               settings.token_ttl_seconds)
    return json_response({"access_token": access_token, "token_type": "Bearer",
                          "expires_in": settings.token_ttl_seconds, "scope": " ".join(scopes)})


async def put_client(request: web.Request) -> web.Response:
    body = ClientRegistration.model_validate(await read_json(request))
    await request.app[REPOSITORY].save_client(request.match_info["client_id"], body.secret, list(body.scopes))
    return json_response({"client_id": request.match_info["client_id"], "scopes": body.scopes})


async def put_station_password(request: web.Request) -> web.Response:
    body = StationPassword.model_validate(await read_json(request))
    await request.app[REPOSITORY].set_station_password(request.match_info["station_id"], body.password)
    return web.Response(status=204)


async def delete_station_password(request: web.Request) -> web.Response:
    await request.app[REPOSITORY].set_station_password(request.match_info["station_id"], None)
    return web.Response(status=204)


async def check_station(request: web.Request) -> web.Response:
    body = StationCheck.model_validate(await read_json(request))
    required, valid = await request.app[REPOSITORY].check_station(request.match_info["station_id"], body.password)
    return json_response({"required": required, "valid": valid})


async def check_stations(request: web.Request) -> web.Response:
    """Many stations' checks in one request, answered in the order asked."""
    body = StationChecks.model_validate(await read_json(request))
    verdicts = await request.app[REPOSITORY].check_stations([(item.station_id, item.password)
                                                              for item in body.stations])
    return json_response({"results": [{"required": required, "valid": valid} for required, valid in verdicts]})


async def authorize(request: web.Request) -> web.Response:
    body = AuthorizeRequest.model_validate(await read_json(request))
    info = await request.app[REPOSITORY].authorize(body.id_tag, request.app[AUTH_SETTINGS].unknown_id_tag_status)
    return json_response({"idTagInfo": info})


async def authorize_batch(request: web.Request) -> web.Response:
    """Many id tags' IdTagInfo in one request, in the order asked."""
    body = AuthorizeBatch.model_validate(await read_json(request))
    infos = await request.app[REPOSITORY].authorize_many(body.id_tags, request.app[AUTH_SETTINGS].unknown_id_tag_status)
    return json_response({"idTagInfo": infos})


def _page(request: web.Request) -> tuple[int, int]:
    try:
        limit, offset = int(request.query.get("limit", "100")), int(request.query.get("offset", "0"))
    except ValueError as exc:
        raise ApiError(400, "invalid_pagination", "limit and offset are integers") from exc
    if not (1 <= limit <= 1000 and offset >= 0):
        raise ApiError(400, "invalid_pagination", "1 <= limit <= 1000 and offset >= 0")
    return limit, offset


async def list_id_tags(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    items = await request.app[REPOSITORY].id_tags(limit, offset)
    return json_response({"items": items, "limit": limit, "offset": offset})


async def get_id_tag(request: web.Request) -> web.Response:
    tag = await request.app[REPOSITORY].id_tag(request.match_info["id_tag"])
    if tag is None:
        raise ApiError(404, "id_tag_not_found", f"no id tag {request.match_info['id_tag']!r}")
    return json_response(tag)


async def put_id_tag(request: web.Request) -> web.Response:
    id_tag = request.match_info["id_tag"]
    if not 1 <= len(id_tag) <= 20:
        raise ApiError(422, "invalid_id_tag", "an OCPP 1.6 id tag has 1 to 20 characters")
    body = IdTag.model_validate(await read_json(request))
    saved = await request.app[REPOSITORY].save_id_tag(id_tag, body.status, body.expires_at, body.parent_id_tag)
    return json_response(saved)


async def delete_id_tag(request: web.Request) -> web.Response:
    if not await request.app[REPOSITORY].delete_id_tag(request.match_info["id_tag"]):
        raise ApiError(404, "id_tag_not_found", f"no id tag {request.match_info['id_tag']!r}")
    return web.Response(status=204)


async def get_local_list(request: web.Request) -> web.Response:
    """The id tags as a local authorization list: all, or `since` a version the differential."""
    try:
        since = int(request.query["since"]) if "since" in request.query else None
    except ValueError as exc:
        raise ApiError(400, "invalid_since", "since is a list version (an integer)") from exc
    return json_response(await request.app[REPOSITORY].local_list(since))


async def get_local_list_version(request: web.Request) -> web.Response:
    return json_response({"list_version": await request.app[REPOSITORY].list_version()})
