"""The security extension's read side: each station's certificates and security events,
and the platform CA's certificate (what stations and installers trust)."""

from __future__ import annotations

from aiohttp import web

from chargeplane.common.web import ApiError, json_response
from chargeplane.services.ocpp.core.api import Page, require_station

from .station_security import SECURITY

routes = web.RouteTableDef()


async def _known_station(request: web.Request) -> str:
    station_id = request.match_info["station_id"]
    await require_station(request, station_id)
    return station_id


@routes.get("/internal/stations/{station_id}/security-events")
async def list_security_events(request: web.Request) -> web.Response:
    station_id = await _known_station(request)
    page = Page.model_validate(dict(request.query))
    events = await request.app[SECURITY].repository.events(station_id, page.limit, page.offset)
    return json_response({"items": events, "limit": page.limit, "offset": page.offset})


@routes.get("/internal/stations/{station_id}/certificates")
async def list_certificates(request: web.Request) -> web.Response:
    """Every certificate the station holds or held: status installed, issued (sent, not yet
    confirmed), rejected, replaced or deleted."""
    station_id = await _known_station(request)
    return json_response({"items": await request.app[SECURITY].repository.certificates(station_id)})


@routes.get("/internal/security/ca-certificate")
async def get_ca_certificate(request: web.Request) -> web.Response:
    ca = request.app[SECURITY].ca
    if ca is None:
        raise ApiError(404, "no_platform_ca", "no platform CA is configured (CA_CERT_FILE, CA_KEY_FILE)")
    return json_response({"certificate": ca.pem, "subject": ca.certificate.subject.rfc4514_string(),
                          "not_after": ca.certificate.not_valid_after_utc})
