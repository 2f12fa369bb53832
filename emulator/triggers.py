"""TriggerMessage (Remote Trigger profile) and the security extension's ExtendedTriggerMessage:
the station sends the requested message once the confirmation is out.

Both share the core messages (BootNotification, Heartbeat, StatusNotification, MeterValues,
FirmwareStatusNotification). TriggerMessage adds DiagnosticsStatusNotification;
ExtendedTriggerMessage adds LogStatusNotification and SignChargePointCertificate (a
SignCertificate with a fresh key's certificate signing request: `security`), and answers
FirmwareStatusNotification with the extension's SignedFirmwareStatusNotification, which
carries the signed update's requestId. Upload and firmware notifications report what is in
progress, or Idle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .diagnostics import UploadState
from .firmware import FirmwareState
from .protocol import Payload
from .replies import Caller, Handlers, Reply

Sender = Callable[[], Awaitable[Any]]

TRIGGER_MESSAGES: Final = frozenset({
    "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
    "StatusNotification",
})
EXTENDED_TRIGGER_MESSAGES: Final = frozenset({
    "BootNotification", "FirmwareStatusNotification", "Heartbeat", "LogStatusNotification", "MeterValues",
    "SignChargePointCertificate", "StatusNotification",
})


@dataclass(frozen=True, slots=True)
class Triggered:
    """What a triggered message is sent with."""

    connector_ids: Sequence[int]
    firmware: FirmwareState
    uploads: UploadState
    link: Caller
    boot: Sender  # a BootNotification (and heartbeats restarted)
    report_status: Callable[[int], Awaitable[None]]
    send_meter_values: Callable[[int, str], Awaitable[None]]
    request_certificate: Sender  # a SignCertificate for a new key


def _senders(parts: Triggered, connector_id: int | None) -> dict[str, Sender]:
    # connectorId absent or 0 means "the whole station" for status and meter values.
    connector_ids = list(parts.connector_ids) if not connector_id else [connector_id]
    status_ids = [0, *parts.connector_ids] if connector_id is None else [connector_id]
    firmware, uploads, link = parts.firmware, parts.uploads, parts.link

    async def send_statuses() -> None:
        for number in status_ids:
            await parts.report_status(number)

    async def send_meter_values() -> None:
        for number in connector_ids:
            await parts.send_meter_values(number, "Trigger")

    def log_status() -> Payload:
        payload: Payload = {"status": uploads.log_status}
        if uploads.log_request_id is not None:
            payload["requestId"] = uploads.log_request_id
        return payload

    def signed_firmware_status() -> Payload:
        payload: Payload = {"status": firmware.status}
        if firmware.request_id is not None:
            payload["requestId"] = firmware.request_id
        return payload

    return {
        "BootNotification": parts.boot,
        "Heartbeat": lambda: link.call("Heartbeat", {}),
        "StatusNotification": send_statuses,
        "MeterValues": send_meter_values,
        "DiagnosticsStatusNotification": lambda: link.call(
            "DiagnosticsStatusNotification", {"status": uploads.diagnostics_status}),
        # A plain FirmwareStatusNotification knows no signed update's statuses.
        "FirmwareStatusNotification": lambda: link.call(
            "FirmwareStatusNotification", {"status": firmware.status if firmware.request_id is None else "Idle"}),
        "LogStatusNotification": lambda: link.call("LogStatusNotification", log_status()),
        "SignedFirmwareStatusNotification": lambda: link.call(
            "SignedFirmwareStatusNotification", signed_firmware_status()),
        "SignChargePointCertificate": parts.request_certificate,
    }


def _trigger(parts: Triggered, payload: Payload, allowed: frozenset[str],
             renamed: dict[str, str] | None = None) -> Reply:
    requested: str = payload["requestedMessage"]
    connector_id = payload.get("connectorId")
    if connector_id is not None and connector_id != 0 and connector_id not in parts.connector_ids:
        return Reply({"status": "Rejected"})
    if requested not in allowed:
        return Reply({"status": "NotImplemented"})
    sender = _senders(parts, connector_id)[renamed.get(requested, requested) if renamed else requested]
    return Reply({"status": "Accepted"}, sender)


# ExtendedTriggerMessage answers FirmwareStatusNotification with the signed update's notification
EXTENDED_RENAMED: Final = {"FirmwareStatusNotification": "SignedFirmwareStatusNotification"}


def csms_calls(parts: Triggered) -> Handlers:
    return {
        "TriggerMessage": lambda payload: _trigger(parts, payload, TRIGGER_MESSAGES),
        "ExtendedTriggerMessage": lambda payload: _trigger(parts, payload, EXTENDED_TRIGGER_MESSAGES,
                                                           EXTENDED_RENAMED),
    }
