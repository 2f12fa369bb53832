"""The public API, `/api/v1`: one table of routes, from which both the router and the
OpenAPI document are built, so the document cannot drift from what is served."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from chargeplane.common.station_ids import STATION_ID_MAX_LENGTH, STATION_ID_PATTERN
from chargeplane.common.tokens import Scope

# what a route asks of its caller: nothing (`public`), a console user's own session (signed in
# with the cookie, whatever the role: `session`), or a token or session with this scope
RouteScope = Literal["public", "session"] | Scope
Param = tuple[str, dict[str, Any]]  # (name, JSON schema)
# A console user's browser keeps the session in this cookie; a change made with it carries the
# session's CSRF token in this header.
SESSION_COOKIE = "chargeplane_session"
CSRF_HEADER = "X-CSRF-Token"

# A path parameter's `pattern` is checked before the request is forwarded (views.path_checked).
STATION_ID: Param = ("station_id", {"type": "string", "minLength": 1, "maxLength": STATION_ID_MAX_LENGTH,
                                    "pattern": STATION_ID_PATTERN})
SESSION_ID: Param = ("session_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
TARIFF_ID: Param = ("tariff_id", {"type": "string", "minLength": 1, "maxLength": 100})
ID_TAG: Param = ("id_tag", {"type": "string", "minLength": 1, "maxLength": 20})
ACTION: Param = ("action", {"type": "string", "minLength": 1, "maxLength": 40})
FILE_ID: Param = ("file_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
CAMPAIGN_ID: Param = ("campaign_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
WAIT: Param = ("timeout", {"type": "number", "minimum": 1, "maximum": 120, "default": 30})
DATE_TIME = {"type": "string", "format": "date-time"}
# GetDiagnostics and GetLog as OCPP defines them, without what the platform fills in (the
# upload location; GetLog's requestId).
DIAGNOSTICS_REQUEST = {"type": "object", "additionalProperties": False, "properties": {
    "startTime": DATE_TIME, "stopTime": DATE_TIME,
    "retries": {"type": "integer"}, "retryInterval": {"type": "integer"}}}
LOG_REQUEST = {"type": "object", "additionalProperties": False, "required": ["logType"], "properties": {
    "logType": {"type": "string", "enum": ["DiagnosticsLog", "SecurityLog"]},
    "log": {"type": "object", "additionalProperties": False,
            "properties": {"oldestTimestamp": DATE_TIME, "latestTimestamp": DATE_TIME}},
    "retries": {"type": "integer"}, "retryInterval": {"type": "integer"}}}
FIRMWARE_CAMPAIGN = {"type": "object", "additionalProperties": False, "required": ["location", "station_ids"],
                     "properties": {
    "name": {"type": "string", "maxLength": 200},
    "location": {"type": "string", "format": "uri", "maxLength": 512},
    "retrieve_date": DATE_TIME, "install_date": DATE_TIME,
    "retries": {"type": "integer", "minimum": 0, "maximum": 1000},
    "retry_interval": {"type": "integer", "minimum": 0, "maximum": 86400},
    "station_ids": {"type": "array", "minItems": 1, "maxItems": 10000, "uniqueItems": True,
                    "items": STATION_ID[1]},
    "signing_certificate": {"type": "string", "minLength": 1, "maxLength": 5500},
    "signature": {"type": "string", "minLength": 1, "maxLength": 800}}}
SITE_ID: Param = ("site_id", {"type": "string", "minLength": 1, "maxLength": 64})
PROFILE_ID: Param = ("profile_id", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})
CONNECTOR_ID: Param = ("connectorId", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})
PURPOSE: Param = ("chargingProfilePurpose", {"type": "string",
                                             "enum": ["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]})
STACK_LEVEL: Param = ("stackLevel", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})
PAGE: list[Param] = [("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
                     ("offset", {"type": "integer", "minimum": 0, "maximum": 2**31, "default": 0})]
OBJECT = {"type": "object"}
STATION_STATUSES = ("Online", "Offline", "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
                    "Finishing", "Reserved", "Unavailable", "Faulted")
MAX_WATCHED_STATIONS = 500
RESERVATION_STATUSES = ("Active", "Rejected", "Consumed", "Cancelled", "Expired", "Replaced")
LOCAL_LIST_PUSH = {"type": "object", "additionalProperties": False, "properties": {
    "update_type": {"type": "string", "enum": ["Full", "Differential"], "default": "Differential"}}}


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # aiohttp and OpenAPI share the {name} syntax
    handler: str  # operationId; also the views.py function for routes that are not plain forwards
    scope: RouteScope
    summary: str
    # (service, internal path template): a plain forward of the same method, query and body
    upstream: tuple[str, str] | None = None
    path_params: list[Param] = field(default_factory=list)
    query: list[Param] = field(default_factory=list)
    body: dict[str, Any] | None = None
    ok_status: int = 200
    # what a success answers with: JSON, or a file (`application/octet-stream`)
    content_type: str = "application/json"


ROUTES = [
    ApiRoute("POST", "/api/v1/auth/token", "token", "public",
             "Get an access token (OAuth2 client credentials)",
             upstream=("auth", "/internal/auth/token"),
             body={"type": "object", "required": ["client_id", "client_secret"], "properties": {
                 "grant_type": {"type": "string", "enum": ["client_credentials"]},
                 "client_id": {"type": "string"}, "client_secret": {"type": "string"},
                 "scope": {"type": "string"}}}),
    ApiRoute("POST", "/api/v1/auth/session", "sign_in", "public",
             "Sign in to the console as a user (`chargeplane user add`): sets the session cookie (HttpOnly, "
             "SameSite=Strict) and answers the CSRF token that every change made with it must carry in the "
             "X-CSRF-Token header",
             body={"type": "object", "additionalProperties": False, "required": ["name", "password"], "properties": {
                 "name": {"type": "string", "minLength": 1, "maxLength": 64},
                 "password": {"type": "string", "minLength": 1, "maxLength": 128}}}, ok_status=201),
    ApiRoute("GET", "/api/v1/auth/session", "get_console_session", "session",
             "The signed-in user: name, role, scopes, the CSRF token, when the session ends"),
    ApiRoute("DELETE", "/api/v1/auth/session", "sign_out", "session", "Sign out: the session ends",
             ok_status=204),
    ApiRoute("GET", "/api/v1/console-settings", "get_console_settings", "read",
             "What the console needs to know of this installation: the tracing UI's address of a trace "
             "(`trace_url_template`, `{trace_id}` in it; null when none is configured)"),
    ApiRoute("GET", "/api/v1/stations", "list_stations", "read",
             "Stations with their live status and connectors, by id; `q` finds a part of the id (any case), "
             "`status` is Online, Offline or a connector's OCPP status, `changed_since` keeps those that "
             "connected, disconnected, booted, sent a heartbeat or a status since then (`as_of` is the time to "
             "ask from next); `total` counts every match",
             upstream=("ocpp", "/internal/stations"),
             query=[("q", {"type": "string", "minLength": 1, "maxLength": 48}),
                    ("vendor", {"type": "string", "minLength": 1, "maxLength": 100}),
                    ("status", {"type": "string", "enum": list(STATION_STATUSES)}),
                    ("changed_since", DATE_TIME), *PAGE]),
    ApiRoute("GET", "/api/v1/station-counts", "get_station_counts", "read",
             "How many stations there are, online and offline, and with a connector in each OCPP status; "
             "the vendors there are", upstream=("ocpp", "/internal/station-counts")),
    ApiRoute("GET", "/api/v1/station-updates", "station_updates", "read",
             "Server-sent events: `station` (a station as `GET /stations/{id}` answers it) whenever one "
             "connects, disconnects, boots, sends a heartbeat or a status, and `counts` (as "
             "`GET /station-counts`) when they change; `station_id` (repeated, at most 500) keeps to those "
             "stations. Read about every second; a comment line every 15 s keeps the stream open",
             query=[("station_id", {"type": "array", "maxItems": MAX_WATCHED_STATIONS, "items": STATION_ID[1]})],
             content_type="text/event-stream"),
    ApiRoute("GET", "/api/v1/stations/{station_id}/frames", "list_station_frames", "read",
             "The station's recent OCPP frames, newest first, as they went over the wire (the frame log); a "
             "reply is named by the action of its call",
             upstream=("ocpp", "/internal/stations/{station_id}/frames"), path_params=[STATION_ID], query=PAGE),
    ApiRoute("GET", "/api/v1/stations/{station_id}", "get_station", "read", "A station with its connectors",
             upstream=("ocpp", "/internal/stations/{station_id}"),
             path_params=[STATION_ID]),
    ApiRoute("POST", "/api/v1/stations/{station_id}/commands/{action}", "post_command", "operate",
             "Send an OCPP command to a station; its reply, a timeout or offline comes back",
             upstream=("ocpp", "/internal/stations/{station_id}/commands/{action}"),
             path_params=[STATION_ID, ACTION],
             query=[WAIT], body=OBJECT),
    ApiRoute("GET", "/api/v1/stations/{station_id}/remote-starts", "list_remote_starts", "read",
             "Remote starts sent to a station and what became of them",
             upstream=("ocpp", "/internal/stations/{station_id}/remote-starts"), path_params=[STATION_ID]),
    ApiRoute("GET", "/api/v1/stations/{station_id}/maintenance", "get_station_maintenance", "read",
             "A station's firmware version and its firmware, diagnostics and log statuses, latest and history",
             upstream=("ocpp", "/internal/stations/{station_id}/maintenance"), path_params=[STATION_ID]),
    ApiRoute("POST", "/api/v1/stations/{station_id}/diagnostics-requests", "post_diagnostics_request", "operate",
             "Send GetDiagnostics: the station uploads its diagnostics file to the platform",
             upstream=("ocpp", "/internal/stations/{station_id}/diagnostics-requests"),
             path_params=[STATION_ID], query=[WAIT], body=DIAGNOSTICS_REQUEST, ok_status=201),
    ApiRoute("POST", "/api/v1/stations/{station_id}/log-requests", "post_log_request", "operate",
             "Send GetLog (security extension): the station uploads the log to the platform",
             upstream=("ocpp", "/internal/stations/{station_id}/log-requests"),
             path_params=[STATION_ID], query=[WAIT], body=LOG_REQUEST, ok_status=201),
    ApiRoute("GET", "/api/v1/stations/{station_id}/upload-requests", "list_upload_requests", "read",
             "The GetDiagnostics and GetLog requests sent to a station, with its replies and files",
             upstream=("ocpp", "/internal/stations/{station_id}/upload-requests"), path_params=[STATION_ID],
             query=PAGE),
    ApiRoute("GET", "/api/v1/stations/{station_id}/files", "list_station_files", "read",
             "The diagnostics files and logs a station uploaded, newest first",
             upstream=("ocpp", "/internal/stations/{station_id}/files"), path_params=[STATION_ID], query=PAGE),
    ApiRoute("GET", "/api/v1/stations/{station_id}/files/{file_id}", "download_station_file", "read",
             "Download a file a station uploaded", path_params=[STATION_ID, FILE_ID],
             content_type="application/octet-stream"),
    ApiRoute("POST", "/api/v1/firmware-campaigns", "post_firmware_campaign", "operate",
             "Start a firmware campaign: the platform sends UpdateFirmware (or SignedUpdateFirmware) to each "
             "target station when it is online", upstream=("ocpp", "/internal/firmware-campaigns"),
             body=FIRMWARE_CAMPAIGN, ok_status=201),
    ApiRoute("GET", "/api/v1/firmware-campaigns", "list_firmware_campaigns", "read",
             "Firmware campaigns, newest first, with how many stations are in which status",
             upstream=("ocpp", "/internal/firmware-campaigns"), query=PAGE),
    ApiRoute("GET", "/api/v1/firmware-campaigns/{campaign_id}", "get_firmware_campaign", "read",
             "A firmware campaign with each target station's status",
             upstream=("ocpp", "/internal/firmware-campaigns/{campaign_id}"), path_params=[CAMPAIGN_ID]),
    ApiRoute("GET", "/api/v1/stations/{station_id}/configuration", "get_station_configuration", "read",
             "The configuration keys a station reported, the desired values and its answers to each change",
             upstream=("ocpp", "/internal/stations/{station_id}/configuration"), path_params=[STATION_ID]),
    ApiRoute("GET", "/api/v1/stations/{station_id}/security-events", "list_security_events", "read",
             "Security events the station reported (SecurityEventNotification), newest first",
             upstream=("ocpp", "/internal/stations/{station_id}/security-events"), path_params=[STATION_ID],
             query=PAGE),
    ApiRoute("GET", "/api/v1/stations/{station_id}/certificates", "list_station_certificates", "read",
             "Certificates on the station: issued by the platform CA, installed, deleted",
             upstream=("ocpp", "/internal/stations/{station_id}/certificates"), path_params=[STATION_ID]),
    ApiRoute("GET", "/api/v1/security/ca-certificate", "get_ca_certificate", "read",
             "The platform CA's certificate, which signs station certificates",
             upstream=("ocpp", "/internal/security/ca-certificate")),
    ApiRoute("GET", "/api/v1/stations/{station_id}/reservations", "list_reservations", "read",
             "Reservations of a station's connectors and what became of them, newest first",
             upstream=("ocpp", "/internal/stations/{station_id}/reservations"), path_params=[STATION_ID],
             query=[("status", {"type": "string", "enum": list(RESERVATION_STATUSES)}), *PAGE]),
    ApiRoute("POST", "/api/v1/stations/{station_id}/reservations", "create_reservation", "operate",
             "Reserve a connector for an id tag until a time (ReserveNow); the station's answer comes back",
             upstream=("ocpp", "/internal/stations/{station_id}/reservations"), path_params=[STATION_ID],
             query=[WAIT], ok_status=201,
             body={"type": "object", "additionalProperties": False,
                   "required": ["connector_id", "id_tag", "expires_at"], "properties": {
                       "connector_id": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                       "id_tag": ID_TAG[1], "expires_at": {"type": "string", "format": "date-time"},
                       "parent_id_tag": ID_TAG[1]}}),
    ApiRoute("DELETE", "/api/v1/stations/{station_id}/reservations/{reservation_id}", "cancel_reservation",
             "operate", "Cancel an active reservation (CancelReservation); the station's answer comes back",
             upstream=("ocpp", "/internal/stations/{station_id}/reservations/{reservation_id}"),
             path_params=[STATION_ID, ("reservation_id", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})],
             query=[WAIT]),
    ApiRoute("GET", "/api/v1/stations/{station_id}/local-list", "get_local_list", "read",
             "The local authorization list version a station holds, beside the id tags' current version",
             upstream=("ocpp", "/internal/stations/{station_id}/local-list"), path_params=[STATION_ID]),
    ApiRoute("POST", "/api/v1/stations/{station_id}/local-list", "push_local_list", "operate",
             "Send the id tags to a station's local list (SendLocalList), in full or what changed since its version",
             upstream=("ocpp", "/internal/stations/{station_id}/local-list"), path_params=[STATION_ID],
             query=[WAIT], body=LOCAL_LIST_PUSH),
    ApiRoute("POST", "/api/v1/local-list/push", "push_local_list_to_all", "operate",
             "Send the id tags to the local list of every connected station, each from the version it holds",
             upstream=("ocpp", "/internal/local-list/push"), query=[WAIT], body=LOCAL_LIST_PUSH),
    ApiRoute("GET", "/api/v1/stations/{station_id}/charging-profiles", "list_charging_profiles", "read",
             "The charging profiles a station holds (those it accepted)",
             upstream=("ocpp", "/internal/stations/{station_id}/charging-profiles"), path_params=[STATION_ID]),
    ApiRoute("POST", "/api/v1/stations/{station_id}/charging-profiles", "set_charging_profile", "operate",
             "Send a charging profile (SetChargingProfile, checked against OCPP 1.6's rules first); stored if accepted",
             upstream=("ocpp", "/internal/stations/{station_id}/commands/SetChargingProfile"),
             path_params=[STATION_ID], query=[WAIT], body=OBJECT),
    ApiRoute("DELETE", "/api/v1/stations/{station_id}/charging-profiles", "clear_charging_profiles", "operate",
             "Clear the station's charging profiles matching every filter given (ClearChargingProfile)",
             path_params=[STATION_ID], query=[CONNECTOR_ID, PURPOSE, STACK_LEVEL, WAIT]),
    ApiRoute("DELETE", "/api/v1/stations/{station_id}/charging-profiles/{profile_id}", "clear_charging_profile",
             "operate", "Clear one charging profile by its id (ClearChargingProfile)",
             path_params=[STATION_ID, PROFILE_ID], query=[WAIT]),
    ApiRoute("GET", "/api/v1/stations/{station_id}/composite-schedule", "get_composite_schedule", "read",
             "The schedule a connector will follow, as the station computes it (GetCompositeSchedule)",
             path_params=[STATION_ID],
             query=[("connectorId", {**CONNECTOR_ID[1], "default": 0}),
                    ("duration", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "default": 3600}),
                    ("chargingRateUnit", {"type": "string", "enum": ["W", "A"]}), WAIT]),
    ApiRoute("GET", "/api/v1/charging-sites", "list_charging_sites", "read",
             "Charging sites: power limits shared by groups of stations",
             upstream=("ocpp", "/internal/charging-sites")),
    ApiRoute("GET", "/api/v1/charging-sites/{site_id}", "get_charging_site", "read",
             "A charging site with its stations and each active session's share",
             upstream=("ocpp", "/internal/charging-sites/{site_id}"), path_params=[SITE_ID]),
    ApiRoute("PUT", "/api/v1/charging-sites/{site_id}", "put_charging_site", "operate",
             "Create or change a charging site: its power limit and its stations",
             upstream=("ocpp", "/internal/charging-sites/{site_id}"), path_params=[SITE_ID],
             body={"type": "object", "additionalProperties": False, "required": ["max_power_w"], "properties": {
                 "max_power_w": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                 "station_ids": {"type": "array", "maxItems": 1000, "items": STATION_ID[1]}}}),
    ApiRoute("DELETE", "/api/v1/charging-sites/{site_id}", "delete_charging_site", "operate",
             "Delete a charging site; its stations' shares are cleared",
             upstream=("ocpp", "/internal/charging-sites/{site_id}"), path_params=[SITE_ID], ok_status=204),
    ApiRoute("GET", "/api/v1/sessions", "list_sessions", "read", "Charging sessions, newest first",
             upstream=("sessions", "/internal/sessions"),
             query=[("station_id", STATION_ID[1]), ("status", {"type": "string", "enum": ["active", "completed"]}),
                    ("from", {"type": "string", "format": "date-time"}),
                    ("to", {"type": "string", "format": "date-time"}), *PAGE]),
    ApiRoute("GET", "/api/v1/sessions/{session_id}", "get_session", "read",
             "A charging session with its energy meter series", path_params=[SESSION_ID]),
    ApiRoute("GET", "/api/v1/billing-transactions", "list_bills", "read", "Bills, newest first",
             upstream=("billing", "/internal/billing/transactions"),
             query=[SESSION_ID, STATION_ID, *PAGE]),
    ApiRoute("GET", "/api/v1/tariffs", "list_tariffs", "read", "Tariffs",
             upstream=("billing", "/internal/tariffs")),
    ApiRoute("GET", "/api/v1/tariffs/{tariff_id}", "get_tariff", "read", "A tariff",
             upstream=("billing", "/internal/tariffs/{tariff_id}"), path_params=[TARIFF_ID]),
    ApiRoute("GET", "/api/v1/id-tags", "list_id_tags", "read", "Id tags (RFID cards, apps)",
             upstream=("auth", "/internal/auth/id-tags"), query=PAGE),
    ApiRoute("GET", "/api/v1/id-tags/{id_tag}", "get_id_tag", "read", "An id tag",
             upstream=("auth", "/internal/auth/id-tags/{id_tag}"), path_params=[ID_TAG]),
    ApiRoute("PUT", "/api/v1/id-tags/{id_tag}", "put_id_tag", "operate", "Create or change an id tag",
             upstream=("auth", "/internal/auth/id-tags/{id_tag}"),
             path_params=[ID_TAG], body={"type": "object", "additionalProperties": False, "properties": {
                 "status": {"type": "string", "enum": ["Accepted", "Blocked", "Expired", "Invalid"]},
                 "expires_at": {"type": "string", "format": "date-time", "nullable": True},
                 "parent_id_tag": {"type": "string", "maxLength": 20, "nullable": True}}}),
    ApiRoute("DELETE", "/api/v1/id-tags/{id_tag}", "delete_id_tag", "operate", "Delete an id tag",
             upstream=("auth", "/internal/auth/id-tags/{id_tag}"),
             path_params=[ID_TAG], ok_status=204),
]


def _success_schema(route: ApiRoute) -> dict[str, Any]:
    if route.content_type == "application/json":
        return OBJECT
    if route.content_type == "text/event-stream":
        return {"type": "string"}
    return {"type": "string", "format": "binary"}


def _parameter(name: str, schema: dict[str, Any], where: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema}


ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "operationId": route.handler, "summary": route.summary,
            "parameters": [_parameter(n, s, "path") for n, s in route.path_params]
            + [_parameter(n, s, "query") for n, s in route.query],
            "responses": {
                str(route.ok_status): {"description": "success"} if route.ok_status == 204 else
                {"description": "success", "content": {route.content_type: {"schema": _success_schema(route)}}},
                "default": {"description": "error",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        if route.scope == "session":
            operation["security"] = [{"session": []}]
        elif route.scope != "public":
            operation["security"] = [{"bearer": [route.scope]}, {"session": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "ChargePlane API", "version": "v1",
                 "description": "Stations, sessions, bills, tariffs, id tags and commands to stations."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                # a console user's; a change made with it also needs the X-CSRF-Token header
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            },
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }
