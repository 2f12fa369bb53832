"""How a station answers CSMS-initiated CALLs.

Each handler decides synchronously and returns a Reply; whatever needs CALLs of its own (the
session a RemoteStartTransaction asks for, the message a TriggerMessage requests) happens in
`Reply.then`, which the station runs only after the confirmation has been sent, as OCPP
expects. Actions missing from HANDLERS are answered with a NotImplemented CALLERROR.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from .configuration import AUTHORIZE_REMOTE_TX_REQUESTS
from .protocol import CallError, Payload

if TYPE_CHECKING:
    from .station import Station


class Reply(NamedTuple):
    payload: Payload
    then: Callable[[], Awaitable[Any]] | None = None


Handler = Callable[["Station", Payload], Reply]


def on_reset(station: Station, payload: Payload) -> Reply:
    reset_type = payload["type"]
    if reset_type not in ("Hard", "Soft"):
        raise CallError("PropertyConstraintViolation", f"unknown reset type {reset_type!r}")

    async def reboot() -> None:
        await station.stop_all_sessions(reason=f"{reset_type}Reset")
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
    connector = next((c for c in candidates if c.operative and not c.in_session), None)
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


def on_trigger_message(station: Station, payload: Payload) -> Reply:
    requested = payload["requestedMessage"]
    connector_id = payload.get("connectorId")
    if connector_id is not None and connector_id != 0 and connector_id not in station.connectors:
        return Reply({"status": "Rejected"})
    # connectorId absent or 0 means "the whole station" for status and meter values.
    connector_ids = list(station.connectors) if not connector_id else [connector_id]
    status_ids = [0, *station.connectors] if connector_id is None else [connector_id]

    async def send_boot() -> None:
        await station.send_boot_notification()
        station.restart_heartbeat()

    async def send_statuses() -> None:
        for number in status_ids:
            await station.report_status(number)

    async def send_meter_values() -> None:
        for number in connector_ids:
            await station.send_meter_values(number, context="Trigger")

    senders: dict[str, Callable[[], Awaitable[Any]]] = {
        "BootNotification": send_boot,
        "Heartbeat": lambda: station.call("Heartbeat", {}),
        "StatusNotification": send_statuses,
        "MeterValues": send_meter_values,
        "DiagnosticsStatusNotification": lambda: station.call("DiagnosticsStatusNotification", {"status": "Idle"}),
        "FirmwareStatusNotification": lambda: station.call("FirmwareStatusNotification", {"status": "Idle"}),
    }
    sender = senders.get(requested)
    if sender is None:
        return Reply({"status": "NotImplemented"})
    return Reply({"status": "Accepted"}, sender)


def on_get_configuration(station: Station, payload: Payload) -> Reply:
    keys = payload.get("key")
    if keys is not None and not isinstance(keys, list):
        raise TypeError("key must be a list")
    return Reply(station.configuration.describe(keys))


def on_change_configuration(station: Station, payload: Payload) -> Reply:
    key, value = payload["key"], payload["value"]
    if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError("key and value must be strings")
    return Reply({"status": str(station.change_configuration(key, value))})


def on_set_charging_profile(station: Station, payload: Payload) -> Reply:
    status = station.charging_profiles.set_profile(payload["connectorId"], payload["csChargingProfiles"])
    return Reply({"status": status}, station.apply_charging_limits if status == "Accepted" else None)


def on_clear_charging_profile(station: Station, payload: Payload) -> Reply:
    status = station.charging_profiles.clear(payload)
    return Reply({"status": status}, station.apply_charging_limits if status == "Accepted" else None)


def on_get_composite_schedule(station: Station, payload: Payload) -> Reply:
    return Reply(station.charging_profiles.composite_schedule(
        payload["connectorId"], payload["duration"], payload.get("chargingRateUnit"), datetime.now(UTC)))


HANDLERS: Final[dict[str, Handler]] = {
    "Reset": on_reset,
    "ChangeAvailability": on_change_availability,
    "RemoteStartTransaction": on_remote_start_transaction,
    "RemoteStopTransaction": on_remote_stop_transaction,
    "UnlockConnector": on_unlock_connector,
    "TriggerMessage": on_trigger_message,
    "GetConfiguration": on_get_configuration,
    "ChangeConfiguration": on_change_configuration,
    "SetChargingProfile": on_set_charging_profile,
    "ClearChargingProfile": on_clear_charging_profile,
    "GetCompositeSchedule": on_get_composite_schedule,
}
