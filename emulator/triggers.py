"""TriggerMessage (Remote Trigger profile) and the security extension's ExtendedTriggerMessage:
the station sends the requested message once the confirmation is out.

Both share the core messages (BootNotification, Heartbeat, StatusNotification, MeterValues,
FirmwareStatusNotification). TriggerMessage adds DiagnosticsStatusNotification;
ExtendedTriggerMessage adds LogStatusNotification and SignChargePointCertificate (a
SignCertificate with a fresh key's certificate signing request), and answers
FirmwareStatusNotification with the extension's SignedFirmwareStatusNotification, which
carries the signed update's requestId. Upload and firmware notifications report what is in
progress, or Idle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .protocol import Payload
from .replies import Reply

if TYPE_CHECKING:
    from .station import Station

Sender = Callable[[], Awaitable[Any]]

TRIGGER_MESSAGES: Final = frozenset({
    "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
    "StatusNotification",
})
EXTENDED_TRIGGER_MESSAGES: Final = frozenset({
    "BootNotification", "FirmwareStatusNotification", "Heartbeat", "LogStatusNotification", "MeterValues",
    "SignChargePointCertificate", "StatusNotification",
})


def certificate_signing_request(station: Station) -> str:
    """A PEM CSR for a new P-256 key, its common name the station id (OCPP security profile 3)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, station.station_id),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, station.config.vendor),
    ])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _senders(station: Station, connector_id: int | None) -> dict[str, Sender]:
    # connectorId absent or 0 means "the whole station" for status and meter values.
    connector_ids = list(station.connectors) if not connector_id else [connector_id]
    status_ids = [0, *station.connectors] if connector_id is None else [connector_id]
    firmware, uploads = station.firmware, station.uploads

    async def send_boot() -> None:
        await station.send_boot_notification()
        station.restart_heartbeat()

    async def send_statuses() -> None:
        for number in status_ids:
            await station.report_status(number)

    async def send_meter_values() -> None:
        for number in connector_ids:
            await station.send_meter_values(number, context="Trigger")

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
        "BootNotification": send_boot,
        "Heartbeat": lambda: station.call("Heartbeat", {}),
        "StatusNotification": send_statuses,
        "MeterValues": send_meter_values,
        "DiagnosticsStatusNotification": lambda: station.call(
            "DiagnosticsStatusNotification", {"status": uploads.diagnostics_status}),
        # A plain FirmwareStatusNotification knows no signed update's statuses.
        "FirmwareStatusNotification": lambda: station.call(
            "FirmwareStatusNotification", {"status": firmware.status if firmware.request_id is None else "Idle"}),
        "LogStatusNotification": lambda: station.call("LogStatusNotification", log_status()),
        "SignedFirmwareStatusNotification": lambda: station.call(
            "SignedFirmwareStatusNotification", signed_firmware_status()),
        "SignChargePointCertificate": lambda: station.call(
            "SignCertificate", {"csr": certificate_signing_request(station)}),
    }


def _trigger(station: Station, payload: Payload, allowed: frozenset[str],
             renamed: dict[str, str] | None = None) -> Reply:
    requested = payload["requestedMessage"]
    connector_id = payload.get("connectorId")
    if connector_id is not None and connector_id != 0 and connector_id not in station.connectors:
        return Reply({"status": "Rejected"})
    if requested not in allowed:
        return Reply({"status": "NotImplemented"})
    sender = _senders(station, connector_id)[(renamed or {}).get(requested, requested)]
    return Reply({"status": "Accepted"}, sender)


def on_trigger_message(station: Station, payload: Payload) -> Reply:
    return _trigger(station, payload, TRIGGER_MESSAGES)


def on_extended_trigger_message(station: Station, payload: Payload) -> Reply:
    return _trigger(station, payload, EXTENDED_TRIGGER_MESSAGES,
                    {"FirmwareStatusNotification": "SignedFirmwareStatusNotification"})
