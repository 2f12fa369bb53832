"""GetDiagnostics and GetLog on the station side: the station writes the file and really
uploads it over HTTP to the location the CSMS named, reporting each step
(DiagnosticsStatusNotification, or LogStatusNotification with the GetLog's requestId).

The upload is `POST {location}` with the file as multipart/form-data (field `file`), as HTTP
diagnostics uploads of stations in the field do; it is retried `retries` times,
`retryInterval` seconds apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

import aiohttp

from .configuration import KEY_RULES, Configuration
from .events import ConnectionState
from .firmware import FirmwareState
from .model import StationConfig, StationStats
from .protocol import Payload, utc_timestamp
from .replies import Caller, Handlers, Reply

if TYPE_CHECKING:
    from .connectors import Connector

UPLOAD_TIMEOUT_S: Final = 60.0


@dataclass(slots=True)
class UploadState:
    """What a TriggerMessage for the upload notifications reports: Uploading while an upload
    is under way, Idle otherwise."""

    diagnostics_status: str = "Idle"
    log_status: str = "Idle"
    log_request_id: int | None = None


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


class Reported(Protocol):
    """What the diagnostics report and the security log tell of a station: all of it, read only."""

    @property
    def config(self) -> StationConfig: ...
    @property
    def station_id(self) -> str: ...
    @property
    def firmware(self) -> FirmwareState: ...
    @property
    def connection_state(self) -> ConnectionState: ...
    @property
    def boot_status(self) -> str | None: ...
    @property
    def station_status(self) -> str: ...
    @property
    def connectors(self) -> Mapping[int, Connector]: ...
    @property
    def stats(self) -> StationStats: ...
    @property
    def configuration(self) -> Configuration: ...


def diagnostics_report(station: Reported, title: str, window: tuple[str | None, str | None] = (None, None)) -> str:
    """The station's state as text: what a support engineer wants to see first."""
    config = station.config
    lines = [
        f"# {title}",
        f"station: {station.station_id}",
        f"vendor: {config.vendor}  model: {config.model}  firmware: {station.firmware.version}",
        f"written at: {utc_timestamp()}",
        f"period: {window[0] or 'start'} .. {window[1] or 'now'}",
        f"connection: {station.connection_state}  boot: {station.boot_status}",
        f"station status: {station.station_status}",
    ]
    for connector in station.connectors.values():
        lines.append(f"connector {connector.connector_id}: {connector.status} register={connector.meter.register_wh} Wh"
                     f" transaction={connector.transaction_id}")
    lines.append(f"stats: {station.stats}")
    lines += [f"config {key} = {value['value']}" for value in station.configuration.describe()["configurationKey"]
              if (key := value["key"]) in KEY_RULES]
    return "\n".join(lines) + "\n"


def security_log(station: Reported) -> str:
    """The security log: how the station authenticates and what its connections did."""
    stats = station.stats
    lines = [
        f"# security log of {station.station_id}, written at {utc_timestamp()}",
        f"csms: {station.config.url}",
        f"http basic auth: {'on' if station.config.password is not None else 'off'}",
        f"connects: {stats.connects}  failed connects: {stats.connect_failures}  dropped: {stats.disconnects}",
        f"boots accepted: {stats.boots_accepted}  CALLERRORs from the CSMS: {stats.call_errors or 'none'}",
    ]
    return "\n".join(lines) + "\n"


async def upload(location: str, file_name: str, content: str, attempts: int, interval: float) -> bool:
    """POST the file to `location`; True once the server took it (a 2xx)."""
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(interval)
        form = aiohttp.FormData()
        form.add_field("file", content.encode(), filename=file_name, content_type="text/plain")
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)) as http:
                async with http.post(location, data=form) as response:
                    if response.ok:
                        return True
        except (aiohttp.ClientError, TimeoutError, ValueError):
            # ValueError: a location aiohttp cannot use (not http/https); it counts as a failure
            continue
    return False


def _attempts(payload: Payload) -> tuple[int, float]:
    return 1 + max(int(payload.get("retries", 0)), 0), float(max(int(payload.get("retryInterval", 0)), 0))


def csms_calls(station: Reported, uploads: UploadState, link: Caller) -> Handlers:
    """`station` is only read, for the files; `link` reports the upload's progress."""

    def on_get_diagnostics(payload: Payload) -> Reply:
        location = payload["location"]
        if not isinstance(location, str):
            raise TypeError("location must be a string")
        attempts, interval = _attempts(payload)
        file_name = f"diagnostics-{station.station_id}-{_stamp()}.txt"
        content = diagnostics_report(station, "diagnostics", (payload.get("startTime"), payload.get("stopTime")))

        async def send() -> None:
            uploads.diagnostics_status = "Uploading"
            try:
                await link.send_best_effort("DiagnosticsStatusNotification", {"status": "Uploading"})
                uploaded = await upload(location, file_name, content, attempts, interval)
            finally:
                uploads.diagnostics_status = "Idle"
            await link.send_best_effort("DiagnosticsStatusNotification",
                                        {"status": "Uploaded" if uploaded else "UploadFailed"})

        return Reply({"fileName": file_name}, send)

    def on_get_log(payload: Payload) -> Reply:
        log_type, request_id = payload["logType"], int(payload["requestId"])
        location = payload["log"]["remoteLocation"]
        if log_type not in ("DiagnosticsLog", "SecurityLog") or not isinstance(location, str):
            raise ValueError(f"bad GetLog: logType {log_type!r}, remoteLocation {location!r}")
        attempts, interval = _attempts(payload)
        file_name = f"{log_type.lower()}-{station.station_id}-{_stamp()}.txt"
        window = (payload["log"].get("oldestTimestamp"), payload["log"].get("latestTimestamp"))
        content = diagnostics_report(station, "diagnostics log", window) if log_type == "DiagnosticsLog" \
            else security_log(station)

        async def send() -> None:
            uploads.log_status, uploads.log_request_id = "Uploading", request_id
            try:
                await link.send_best_effort("LogStatusNotification", {"status": "Uploading", "requestId": request_id})
                uploaded = await upload(location, file_name, content, attempts, interval)
            finally:
                if uploads.log_request_id == request_id:
                    uploads.log_status, uploads.log_request_id = "Idle", None
            await link.send_best_effort("LogStatusNotification",
                                        {"status": "Uploaded" if uploaded else "UploadFailure",
                                         "requestId": request_id})

        return Reply({"status": "Accepted", "filename": file_name}, send)

    return {"GetDiagnostics": on_get_diagnostics, "GetLog": on_get_log}
