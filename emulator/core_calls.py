"""How a station answers the Core profile's CSMS-initiated CALLs: Reset, ChangeAvailability,
RemoteStartTransaction, RemoteStopTransaction, UnlockConnector, GetConfiguration and
ChangeConfiguration.

Each handler decides synchronously and returns a Reply; whatever needs CALLs of its own (the
session a RemoteStartTransaction asks for) happens in `Reply.then`, which the station runs only
after the confirmation has been sent, as OCPP expects. The other profiles' calls are answered
by their own modules (`csms_calls` in each); an action no module answers gets NotImplemented.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import reservations
from .configuration import AUTHORIZE_REMOTE_TX_REQUESTS, ChangeResult, Configuration
from .connectors import Connectors
from .protocol import CallError, Payload
from .replies import Handlers, Reply
from .security import StationSecurity


def csms_calls(connectors: Connectors, configuration: Configuration, security: StationSecurity,
               change_configuration: Callable[[str, str], ChangeResult],
               disconnect: Callable[[], Awaitable[None]]) -> Handlers:
    """`change_configuration` applies a key's new value; `disconnect` drops the connection (the
    station reconnects, as after any other drop)."""

    def on_reset(payload: Payload) -> Reply:
        reset_type = payload["type"]
        if reset_type not in ("Hard", "Soft"):
            raise CallError("PropertyConstraintViolation", f"unknown reset type {reset_type!r}")

        async def reboot() -> None:
            await connectors.stop_all_sessions(reason=f"{reset_type}Reset")
            security.report("ResetOrReboot", f"{reset_type} reset by the CSMS")
            # A reset station reconnects and boots again; Station.maintain_connection() does
            # the reconnecting, as after any other drop.
            await disconnect()

        return Reply({"status": "Accepted"}, reboot)

    def on_change_availability(payload: Payload) -> Reply:
        connector_id = int(payload["connectorId"])
        availability = payload["type"]
        if availability not in ("Operative", "Inoperative"):
            raise CallError("PropertyConstraintViolation", f"unknown availability {availability!r}")
        if connector_id == 0:
            targets = list(connectors.values())
        elif connector_id in connectors:
            targets = [connectors[connector_id]]
        else:
            return Reply({"status": "Rejected"})
        operative = availability == "Operative"
        for connector in targets:
            connector.operative = operative
        # A connector in a session finishes it first and goes Unavailable afterwards.
        scheduled = not operative and any(connector.in_session for connector in targets)

        async def apply() -> None:
            if connector_id == 0:
                await connectors.set_status(0, "Available" if operative else "Unavailable")
            for connector in targets:
                if not connector.in_session:
                    await connectors.set_status(connector.connector_id, connector.idle_status)

        return Reply({"status": "Scheduled" if scheduled else "Accepted"}, apply)

    def on_remote_start_transaction(payload: Payload) -> Reply:
        id_tag = payload["idTag"]
        if not isinstance(id_tag, str):
            raise TypeError("idTag must be a string")
        requested = payload.get("connectorId")
        if requested is None:
            candidates = list(connectors.values())
        else:
            candidates = [connectors[requested]] if requested in connectors else []
        connector = next((c for c in candidates if c.operative and not c.in_session
                          and reservations.admits(c, id_tag, None)), None)
        if connector is None:
            return Reply({"status": "Rejected"})
        authorize = configuration.flag(AUTHORIZE_REMOTE_TX_REQUESTS)
        return Reply(
            {"status": "Accepted"},
            lambda: connectors.start_session(connector.connector_id, id_tag, authorize=authorize),
        )

    def on_remote_stop_transaction(payload: Payload) -> Reply:
        transaction_id = payload["transactionId"]
        connector = next((c for c in connectors.values() if c.transaction_id == transaction_id), None)
        if connector is None:
            return Reply({"status": "Rejected"})
        return Reply({"status": "Accepted"}, lambda: connectors.stop_session(connector.connector_id, reason="Remote"))

    def on_unlock_connector(payload: Payload) -> Reply:
        connector_id = payload["connectorId"]
        if connector_id not in connectors:
            return Reply({"status": "NotSupported"})
        return Reply({"status": "Unlocked"}, lambda: connectors.unlock(connector_id))

    def on_get_configuration(payload: Payload) -> Reply:
        keys = payload.get("key")
        if keys is not None and not isinstance(keys, list):
            raise TypeError("key must be a list")
        return Reply(configuration.describe(keys))

    def on_change_configuration(payload: Payload) -> Reply:
        key, value = payload["key"], payload["value"]
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("key and value must be strings")
        result = change_configuration(key, value)
        return Reply({"status": str(result)}, security.after_configuration_change(key, result))

    return {
        "Reset": on_reset,
        "ChangeAvailability": on_change_availability,
        "RemoteStartTransaction": on_remote_start_transaction,
        "RemoteStopTransaction": on_remote_stop_transaction,
        "UnlockConnector": on_unlock_connector,
        "GetConfiguration": on_get_configuration,
        "ChangeConfiguration": on_change_configuration,
    }
