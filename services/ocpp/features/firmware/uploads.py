"""The upload endpoint stations send diagnostics files and logs to, and the files per station.

A GetDiagnostics or GetLog the platform sends (`views`) names the location
`{upload_base_url}/uploads/{token}`; the token is secret and expires, so the location is the
station's permission. A station uploads either with `POST {location}` (multipart/form-data,
the file's part carries its file name; or the raw file, named by `?filename=`) or with
`PUT {location}/{file name}` (the raw file). Files are kept in PostgreSQL.
"""

from __future__ import annotations

import hashlib

import asyncpg
import structlog
from aiohttp import BodyPartReader, web
from aiohttp.helpers import content_disposition_header
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.web import ApiError, json_response
from chargeplane.services.ocpp.core.api import Page
from chargeplane.services.ocpp.core.listeners import StationRoute
from chargeplane.services.ocpp.settings import OCPP_SETTINGS

from .repository import FIRMWARE

log = structlog.get_logger(__name__)
# the files, in the internal API (stations upload on their listeners: `STATION_ROUTES`)
routes = web.RouteTableDef()

CHUNK = 64 * 1024
MAX_FILE_ID = 2**63 - 1


class _Upload:
    """A file read as it streams in, refused once it exceeds the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            raise ApiError(413, "file_too_large", f"an upload may have at most {self.limit} bytes")


async def _read_raw(request: web.Request, limit: int) -> bytes:
    upload = _Upload(limit)
    async for chunk in request.content.iter_chunked(CHUNK):
        upload.add(chunk)
    return bytes(upload.data)


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    upload = _Upload(limit)
    while chunk := await part.read_chunk(CHUNK):
        upload.add(chunk)
    return bytes(upload.data)


async def _store(app: web.Application, slot: asyncpg.Record, file_name: str, content_type: str,
                 content: bytes) -> web.Response:
    sha256 = hashlib.sha256(content).hexdigest()
    file_id = await app[FIRMWARE].store_file(slot["id"], slot["station_id"], file_name, content_type, sha256,
                                                     content)
    log.info("station file uploaded", station_id=slot["station_id"], file_id=file_id, file_name=file_name,
             size_bytes=len(content))
    return json_response({"id": file_id, "file_name": file_name, "size_bytes": len(content), "sha256": sha256},
                         status=201)


async def _upload_slot(request: web.Request, app: web.Application) -> asyncpg.Record:
    """The upload request the location's token names; checked before the body is read, so a
    stranger's upload is refused without reading a byte."""
    slot = await app[FIRMWARE].upload_slot(request.match_info["token"])
    if slot is None:
        raise ApiError(404, "upload_location_unknown", "this upload location is unknown or has expired")
    return slot


async def post_upload(request: web.Request, app: web.Application) -> web.Response:
    slot = await _upload_slot(request, app)
    limit = app[OCPP_SETTINGS].upload_max_bytes
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.filename:
                content = await _read_part(part, limit)
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                return await _store(app, slot, part.filename, content_type, content)
        raise ApiError(422, "no_file", "the multipart body has no part with a file name")
    file_name = request.query.get("filename") or "upload"
    return await _store(app, slot, file_name, request.content_type, await _read_raw(request, limit))


async def put_upload(request: web.Request, app: web.Application) -> web.Response:
    slot = await _upload_slot(request, app)
    content = await _read_raw(request, app[OCPP_SETTINGS].upload_max_bytes)
    return await _store(app, slot, request.match_info["file_name"], request.content_type, content)


# where stations upload, on the listeners they reach
STATION_ROUTES = (StationRoute("POST", "/uploads/{token}", post_upload),
                  StationRoute("PUT", "/uploads/{token}/{file_name}", put_upload))


@routes.get("/internal/stations/{station_id}/files")
async def list_files(request: web.Request) -> web.Response:
    page = Page.model_validate(dict(request.query))
    items = await request.app[FIRMWARE].files(request.match_info["station_id"], page.limit, page.offset)
    return json_response({"items": items, "limit": page.limit, "offset": page.offset})


class _FileId(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: int = Field(ge=1, le=MAX_FILE_ID)


@routes.get("/internal/stations/{station_id}/files/{file_id}")
async def get_file_content(request: web.Request) -> web.Response:
    file_id = _FileId.model_validate({"file_id": request.match_info["file_id"]}).file_id
    row = await request.app[FIRMWARE].file(request.match_info["station_id"], file_id)
    if row is None:
        raise ApiError(404, "file_not_found", f"station {request.match_info['station_id']!r} has no file {file_id}")
    return web.Response(body=row["content"], content_type=row["content_type"].split(";")[0] or None,
                        headers={"Content-Disposition": content_disposition_header(
                            "attachment", filename=row["file_name"])})
