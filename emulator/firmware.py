"""Firmware updates on the station side: UpdateFirmware and the security extension's
SignedUpdateFirmware.

At the retrieve date the station really downloads the image over HTTP (retried `retries`
times, `retryInterval` seconds apart) and reports each step: Downloading, Downloaded,
(signed: SignatureVerified,) Installing, Installed, or the step that failed. Then it ends its
sessions and reboots (the station's `reboot`): it reconnects (as after a Reset,
`Station.maintain_connection()`) and
its BootNotification carries the new firmware version.

An emulator firmware image is a file whose first line is `CHARGEPLANE-FIRMWARE <version>`;
anything else fails to install (InstallationFailed). Of a signed update the emulator checks
only that the certificate and the signature are present; checking them against a trusted
certificate belongs to the security extension's certificate handling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import aiohttp

from .protocol import Payload, parse_timestamp
from .replies import Caller, Handlers, Reply

IMAGE_HEADER: Final = b"CHARGEPLANE-FIRMWARE "
DOWNLOAD_TIMEOUT_S: Final = 300.0
MAX_IMAGE_BYTES: Final = 256 * 1024 * 1024
MAX_VERSION_LENGTH: Final = 50  # BootNotification's firmwareVersion


@dataclass(slots=True)
class FirmwareState:
    """The installed version, and the update in progress (Idle when there is none), which a
    TriggerMessage for FirmwareStatusNotification reports."""

    version: str
    status: str = "Idle"
    # The SignedUpdateFirmware's requestId while a signed update is in progress.
    request_id: int | None = None
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    location: str
    retrieve_at: datetime
    attempts: int
    retry_interval: float
    # Set for a SignedUpdateFirmware: its requestId and signature.
    request_id: int | None = None
    signature: str | None = None

    @property
    def signed(self) -> bool:
        return self.request_id is not None


def image_version(image: bytes) -> str | None:
    """The version an emulator firmware image carries, or None for a file that is not one."""
    first_line = image.split(b"\n", 1)[0].strip()
    if not first_line.startswith(IMAGE_HEADER):
        return None
    version = first_line[len(IMAGE_HEADER):].decode("utf-8", "replace").strip()
    return version[:MAX_VERSION_LENGTH] or None


async def download(location: str, attempts: int, interval: float) -> bytes | None:
    """GET the image; None when every attempt failed."""
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(interval)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)) as http:
                async with http.get(location) as response:
                    if response.ok and (response.content_length or 0) <= MAX_IMAGE_BYTES:
                        return await response.content.read(MAX_IMAGE_BYTES)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            # ValueError: a location aiohttp cannot use (not http/https); it counts as a failure
            continue
    return None


@dataclass(frozen=True, slots=True)
class Updater:
    """What carrying out an update takes of the station."""

    state: FirmwareState
    link: Caller
    # end the sessions and reboot (reconnect), with this stop reason
    reboot: Callable[[str], Awaitable[None]]

    async def report(self, update: FirmwareUpdate, status: str) -> None:
        self.state.status = status
        if update.signed:
            await self.link.send_best_effort("SignedFirmwareStatusNotification",
                                             {"status": status, "requestId": update.request_id})
        else:
            await self.link.send_best_effort("FirmwareStatusNotification", {"status": status})

    async def install(self, update: FirmwareUpdate) -> bool:
        """Download, check and install; True once the new version is installed."""
        wait_s = (update.retrieve_at - datetime.now(UTC)).total_seconds()
        if wait_s > 0:
            if update.signed:
                await self.report(update, "DownloadScheduled")
            await asyncio.sleep(wait_s)
        await self.report(update, "Downloading")
        image = await download(update.location, update.attempts, update.retry_interval)
        if image is None:
            await self.report(update, "DownloadFailed")
            return False
        await self.report(update, "Downloaded")
        if update.signed:
            if not (update.signature or "").strip():
                await self.report(update, "InvalidSignature")
                return False
            await self.report(update, "SignatureVerified")
        await self.report(update, "Installing")
        version = image_version(image)
        if version is None:
            await self.report(update, "InstallationFailed")
            return False
        self.state.version = version
        await self.report(update, "Installed")
        return True

    async def run(self, update: FirmwareUpdate) -> None:
        """Carry out one update; a newer request cancels one still in progress."""
        state = self.state
        if state.task is not None and not state.task.done():
            state.task.cancel()
        state.task = asyncio.current_task()
        state.request_id = update.request_id
        try:
            installed = await self.install(update)
        finally:
            if state.task is asyncio.current_task():
                state.status, state.request_id, state.task = "Idle", None, None
        if installed:
            await self.reboot("Reboot")


def _update(payload: Payload, location: str, retrieve: str, request_id: int | None = None,
            signature: str | None = None) -> FirmwareUpdate:
    retries, interval = int(payload.get("retries", 0)), int(payload.get("retryInterval", 0))
    return FirmwareUpdate(location, parse_timestamp(retrieve), 1 + max(retries, 0), float(max(interval, 0)),
                          request_id, signature)


def csms_calls(updater: Updater) -> Handlers:
    def on_update_firmware(payload: Payload) -> Reply:
        update = _update(payload, payload["location"], payload["retrieveDate"])
        return Reply({}, lambda: updater.run(update))

    def on_signed_update_firmware(payload: Payload) -> Reply:
        firmware = payload["firmware"]
        if not str(firmware["signingCertificate"]).strip():
            return Reply({"status": "InvalidCertificate"})
        in_progress = updater.state.task is not None and not updater.state.task.done()
        update = _update(payload, firmware["location"], firmware["retrieveDateTime"], int(payload["requestId"]),
                         str(firmware["signature"]))
        return Reply({"status": "AcceptedCanceled" if in_progress else "Accepted"}, lambda: updater.run(update))

    return {"UpdateFirmware": on_update_firmware, "SignedUpdateFirmware": on_signed_update_firmware}
