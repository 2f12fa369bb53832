"""How a station answers CSMS-initiated CALLs.

Each handler decides synchronously and returns a Reply; whatever needs CALLs of its own (the
session a RemoteStartTransaction asks for, the message a TriggerMessage requests) happens in
`Reply.then`, which the station runs only after the confirmation has been sent, as OCPP
expects. Actions missing from HANDLERS are answered with a NotImplemented CALLERROR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import local_list, reservations
from .auth_cache import on_clear_cache
from .configuration import AUTHORIZE_REMOTE_TX_REQUESTS
from .data_transfer import on_data_transfer
from .diagnostics import on_get_diagnostics, on_get_log
from .firmware import on_signed_update_firmware, on_update_firmware
from .protocol import CallError, Payload
from .replies import Handler, Reply
from .smart_charging import on_clear_charging_profile, on_get_composite_schedule, on_set_charging_profile
from .triggers import on_extended_trigger_message, on_trigger_message

if TYPE_CHECKING:
    from .station import Station

__all__ = ["HANDLERS", "Handler", "Reply"]


def on_reset(station: Station, payload: Payload) -> Reply:
    reset_type = payload["type"]
    if reset_type not in ("Hard", "Soft"):
        raise CallError("PropertyConstraintViolation", f"unknown reset type {reset_type!r}")

    async def reboot() -> None:
        await station.stop_all_sessions(reason=f"{reset_type}Reset")
        station.security.report("ResetOrReboot", f"{reset_type} reset by the CSMS")
        # A reset station reconnects and boots again; Station.maintain_connection() does
        # the reconnecting, as after any other drop.
        await station.disconnect()

    return Reply({"status": "Accepted"}, reboot)


def on_change_availability(station: Station, payload: Payload) -> Reply:
    connector_id = int(payload["connectorId"])
    availability = payload["type"]
    if availability not in ("Operative", "Inoperative"):
        raise CallError("PropertyConstraintViolation", f"unknown availability {availability!r}")
    if connector_id == 0:
        targets = list(station.connectors.values())
    elif connector_id in station.connectors:
        targets = [station.connectors[connector_id]]
    else:
        return Reply({"status": "Rejected"})
    operative = availability == "Operative"
    for connector in targets:
        connector.operative = operative
    # A connector in a session finishes it first and goes Unavailable afterwards.
    scheduled = not operative and any(connector.in_session for connector in targets)

    async def apply() -> None:
        if connector_id == 0:
            await station.set_status(0, "Available" if operative else "Unavailable")
        for connector in targets:
            if not connector.in_session:
                await station.set_status(connector.connector_id, connector.idle_status)

    return Reply({"status": "Scheduled" if scheduled else "Accepted"}, apply)


def on_remote_start_transaction(station: Station, payload: Payload) -> Reply:
    id_tag = payload["idTag"]
    if not isinstance(id_tag, str):
        raise TypeError("idTag must be a string")
    requested = payload.get("connectorId")
    if requested is None:
        candidates = list(station.connectors.values())
    else:
        candidates = [station.connectors[requested]] if requested in station.connectors else []
    connector = next((c for c in candidates if c.operative and not c.in_session
                      and reservations.admits(c, id_tag, None)), None)
    if connector is None:
        return Reply({"status": "Rejected"})
    authorize = station.configuration.flag(AUTHORIZE_REMOTE_TX_REQUESTS)
    return Reply(
        {"status": "Accepted"},
        lambda: station.start_session(connector.connector_id, id_tag, authorize=authorize),
    )


def on_remote_stop_transaction(station: Station, payload: Payload) -> Reply:
    transaction_id = payload["transactionId"]
    connector = next((c for c in station.connectors.values() if c.transaction_id == transaction_id), None)
    if connector is None:
        return Reply({"status": "Rejected"})
    return Reply({"status": "Accepted"}, lambda: station.stop_session(connector.connector_id, reason="Remote"))


def on_unlock_connector(station: Station, payload: Payload) -> Reply:
    connector_id = payload["connectorId"]
    if connector_id not in station.connectors:
        return Reply({"status": "NotSupported"})
    return Reply({"status": "Unlocked"}, lambda: station.unlock(connector_id))


def on_get_configuration(station: Station, payload: Payload) -> Reply:
    keys = payload.get("key")
    if keys is not None and not isinstance(keys, list):
        raise TypeError("key must be a list")
    return Reply(station.configuration.describe(keys))


def on_change_configuration(station: Station, payload: Payload) -> Reply:
    key, value = payload["key"], payload["value"]
    if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError("key and value must be strings")
    result = station.change_configuration(key, value)
    return Reply({"status": str(result)}, station.security.after_configuration_change(key, result))


HANDLERS: Final[dict[str, Handler]] = {
    "Reset": on_reset,
    "ChangeAvailability": on_change_availability,
    "RemoteStartTransaction": on_remote_start_transaction,
    "RemoteStopTransaction": on_remote_stop_transaction,
    "UnlockConnector": on_unlock_connector,
    "TriggerMessage": on_trigger_message,
    "GetConfiguration": on_get_configuration,
    "ChangeConfiguration": on_change_configuration,
    "ClearCache": on_clear_cache,
    "DataTransfer": on_data_transfer,
    "UpdateFirmware": on_update_firmware,
    "GetDiagnostics": on_get_diagnostics,
    "GetLog": on_get_log,
    "SignedUpdateFirmware": on_signed_update_firmware,
    "ExtendedTriggerMessage": on_extended_trigger_message,
    # the security extension: emulator/security.py
    "CertificateSigned": lambda station, payload: station.security.on_certificate_signed(payload),
    "InstallCertificate": lambda station, payload: station.security.on_install_certificate(payload),
    "GetInstalledCertificateIds": lambda station, payload: station.security.on_get_installed_certificate_ids(payload),
    "DeleteCertificate": lambda station, payload: station.security.on_delete_certificate(payload),
    "SendLocalList": local_list.on_send_local_list,
    "GetLocalListVersion": local_list.on_get_local_list_version,
    "ReserveNow": reservations.on_reserve_now,
    "CancelReservation": reservations.on_cancel_reservation,
    "SetChargingProfile": on_set_charging_profile,
    "ClearChargingProfile": on_clear_charging_profile,
    "GetCompositeSchedule": on_get_composite_schedule,
}
