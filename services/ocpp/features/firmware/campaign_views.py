"""Firmware campaigns: `POST /internal/firmware-campaigns` names a firmware image (its URL,
when to retrieve it) and the stations that install it; `GET` lists them, with each target
station's status. `campaigns` sends them; the stations' notifications move them on."""

from __future__ import annotations

from datetime import datetime

import structlog
from aiohttp import web
from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from chargeplane.common.station_ids import StationId
from chargeplane.common.timeutil import utcnow
from chargeplane.common.web import ApiError, json_response, read_json
from chargeplane.services.ocpp.core.api import Page

from .campaigns import CAMPAIGNS
from .repository import FIRMWARE, NewCampaign, UnknownStations

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

MAX_CAMPAIGN_ID = 2**63 - 1
# PostgreSQL text cannot hold NUL characters.
NO_NUL = r"^[^\x00]*$"


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


@routes.post("/internal/firmware-campaigns")
async def post_campaign(request: web.Request) -> web.Response:
    body = CampaignRequest.model_validate(await read_json(request))
    retrieve_date: datetime = body.retrieve_date or utcnow()
    try:
        campaign_id = await request.app[FIRMWARE].create_campaign(NewCampaign(
            body.name, str(body.location), retrieve_date, body.install_date, body.retries, body.retry_interval,
            body.signing_certificate, body.signature, body.station_ids))
    except UnknownStations as exc:
        raise ApiError(422, "unknown_stations", str(exc), {"station_ids": exc.station_ids}) from exc
    log.info("firmware campaign created", campaign_id=campaign_id, stations=len(body.station_ids),
             signed=body.signature is not None)
    request.app[CAMPAIGNS].wake()
    return json_response(await request.app[FIRMWARE].campaign(campaign_id), status=201)


@routes.get("/internal/firmware-campaigns/{campaign_id}")
async def get_campaign(request: web.Request) -> web.Response:
    campaign_id = _CampaignId.model_validate({"campaign_id": request.match_info["campaign_id"]}).campaign_id
    view = await request.app[FIRMWARE].campaign(campaign_id)
    if view is None:
        raise ApiError(404, "campaign_not_found", f"there is no firmware campaign {campaign_id}")
    return json_response(view)


@routes.get("/internal/firmware-campaigns")
async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns, newest first, each with how many of its stations are in which status."""
    page = Page.model_validate(dict(request.query))
    items = await request.app[FIRMWARE].campaigns(page.limit, page.offset)
    return json_response({"items": items, "limit": page.limit, "offset": page.offset})
