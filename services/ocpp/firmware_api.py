"""Firmware campaigns: `POST /internal/firmware-campaigns` names a firmware image (its URL,
when to retrieve it) and the stations that install it; `GET` lists them, with each target
station's status. `firmware_campaigns` sends them; `maintenance_store` follows them."""

from __future__ import annotations

from datetime import datetime

import structlog
from aiohttp import web
from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from chargeplane.common.keys import DB_POOL
from chargeplane.common.station_ids import StationId
from chargeplane.common.timeutil import utcnow
from chargeplane.common.web import ApiError, json_response, read_json

from .keys import CAMPAIGNS
from .stations_api import Page

log = structlog.get_logger(__name__)

MAX_CAMPAIGN_ID = 2**63 - 1
# PostgreSQL text cannot hold NUL characters.
NO_NUL = r"^[^\x00]*$"
CAMPAIGN_COLUMNS = ("id, name, location, retrieve_date, install_date, retries, retry_interval,"
                    " signature IS NOT NULL AS signed, created_at")


class CampaignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, pattern=NO_NUL)
    # The image's URL; SignedUpdateFirmware allows 512 characters.
    location: AnyUrl
    # When the stations retrieve the image; now when not given.
    retrieve_date: AwareDatetime | None = None
    # Signed updates only: when the stations install it.
    install_date: AwareDatetime | None = None
    retries: int | None = Field(default=None, ge=0, le=1000)
    retry_interval: int | None = Field(default=None, ge=0, le=86400)
    station_ids: list[StationId] = Field(min_length=1, max_length=10_000)
    # Both or neither: with them the campaign is a SignedUpdateFirmware (security extension).
    signing_certificate: str | None = Field(default=None, min_length=1, max_length=5500, pattern=NO_NUL)
    signature: str | None = Field(default=None, min_length=1, max_length=800, pattern=NO_NUL)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignRequest:
        if len(str(self.location)) > 512:
            raise ValueError("location has at most 512 characters")
        if (self.signing_certificate is None) != (self.signature is None):
            raise ValueError("a signed campaign needs both signing_certificate and signature")
        if self.install_date is not None and self.signature is None:
            raise ValueError("install_date is for signed campaigns only")
        if len(set(self.station_ids)) != len(self.station_ids):
            raise ValueError("station_ids has duplicates")
        return self


class _CampaignId(BaseModel):
    campaign_id: int = Field(ge=1, le=MAX_CAMPAIGN_ID)


async def post_campaign(request: web.Request) -> web.Response:
    body = CampaignRequest.model_validate(await read_json(request))
    retrieve_date: datetime = body.retrieve_date or utcnow()
    pool = request.app[DB_POOL]
    async with pool.acquire() as conn, conn.transaction():
        known = {r["id"] for r in await conn.fetch(
            "SELECT id FROM charging_stations WHERE id = ANY($1::text[])", body.station_ids)}
        if unknown := [station_id for station_id in body.station_ids if station_id not in known]:
            raise ApiError(422, "unknown_stations", "every target station must be registered",
                           {"station_ids": unknown})
        campaign_id = await conn.fetchval(
            "INSERT INTO firmware_campaigns (name, location, retrieve_date, install_date, retries, retry_interval,"
            " signing_certificate, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            body.name, str(body.location), retrieve_date, body.install_date, body.retries, body.retry_interval,
            body.signing_certificate, body.signature,
        )
        await conn.execute(
            "INSERT INTO firmware_campaign_stations (campaign_id, station_id) SELECT $1, unnest($2::text[])",
            campaign_id, body.station_ids,
        )
    log.info("firmware campaign created", campaign_id=campaign_id, stations=len(body.station_ids),
             signed=body.signature is not None)
    request.app[CAMPAIGNS].wake()
    return json_response(await _campaign_view(request, campaign_id), status=201)


async def _campaign_view(request: web.Request, campaign_id: int) -> dict[str, object] | None:
    pool = request.app[DB_POOL]
    campaign = await pool.fetchrow(f"SELECT {CAMPAIGN_COLUMNS} FROM firmware_campaigns WHERE id = $1", campaign_id)
    if campaign is None:
        return None
    stations = await pool.fetch(
        "SELECT t.station_id, t.status, t.attempts, t.reply, t.sent_at, t.updated_at, s.firmware_version,"
        " s.connected FROM firmware_campaign_stations t JOIN charging_stations s ON s.id = t.station_id"
        " WHERE t.campaign_id = $1 ORDER BY t.station_id", campaign_id,
    )
    return {**dict(campaign), "stations": [dict(s) for s in stations]}


async def get_campaign(request: web.Request) -> web.Response:
    campaign_id = _CampaignId.model_validate({"campaign_id": request.match_info["campaign_id"]}).campaign_id
    view = await _campaign_view(request, campaign_id)
    if view is None:
        raise ApiError(404, "campaign_not_found", f"there is no firmware campaign {campaign_id}")
    return json_response(view)


async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns, newest first, each with how many of its stations are in which status."""
    page = Page.model_validate(dict(request.query))
    rows = await request.app[DB_POOL].fetch(
        f"SELECT {', '.join('c.' + c.strip() for c in CAMPAIGN_COLUMNS.split(','))},"
        " (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM firmware_campaign_stations"
        "  WHERE campaign_id = c.id GROUP BY status) counted) AS statuses"
        " FROM firmware_campaigns c ORDER BY c.id DESC LIMIT $1 OFFSET $2",
        page.limit, page.offset,
    )
    return json_response({"items": [dict(r) for r in rows], "limit": page.limit, "offset": page.offset})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/internal/firmware-campaigns", post_campaign)
    app.router.add_get("/internal/firmware-campaigns", list_campaigns)
    app.router.add_get("/internal/firmware-campaigns/{campaign_id}", get_campaign)
