"""Connector reservations (OCPP 1.6 Reservation profile), on the station's side.

ReserveNow holds an idle connector for an id tag (or a tag with the same parent) until the
expiry date: the connector reports Reserved, other tags cannot start on it, and the
session of the right tag sends the reservationId in its StartTransaction, which ends the
reservation. CancelReservation ends it; at the expiry date the station ends it itself.
Either way the connector reports its idle status (Available) again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .configuration import RESERVE_CONNECTOR_ZERO_SUPPORTED, SUPPORTED_FEATURE_PROFILES, Configuration
from .errors import ConnectorReserved
from .protocol import CallError, Payload, parse_timestamp
from .replies import Handlers, Reply

if TYPE_CHECKING:
    from .connectors import Connector

# Report a connector's status (the station's `Connectors.set_status`).
SetStatus = Callable[[int, str], Awaitable[None]]

PROFILE = "Reservation"


@dataclass(slots=True, eq=False)
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expires_at: datetime
    # Set when the reservation ends before its expiry (used, cancelled, replaced).
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        return id_tag == self.id_tag or (self.parent_id_tag is not None and parent_id_tag == self.parent_id_tag)


def admits(connector: Connector, id_tag: str, parent_id_tag: str | None) -> bool:
    """Whether the tag may start a session on the connector: it is not reserved (or its
    reservation has expired), or reserved for this tag."""
    reservation = connector.reservation
    return reservation is None or reservation.expired or reservation.admits(id_tag, parent_id_tag)


def claim(connector: Connector, id_tag: str, parent_id_tag: str | None) -> int | None:
    """A session of `id_tag` is starting on the connector: the reservationId it uses up (its
    StartTransaction carries it), or None when the connector is not reserved. Raises
    ConnectorReserved when the connector is reserved for another tag."""
    reservation = connector.reservation
    if reservation is None:
        return None
    if not admits(connector, id_tag, parent_id_tag):
        raise ConnectorReserved(f"connector {connector.connector_id} is reserved for another id tag")
    _end(connector)
    return None if reservation.expired else reservation.reservation_id


def _end(connector: Connector) -> None:
    if connector.reservation is not None:
        connector.reservation.ended.set()
        connector.reservation = None


def _find(connectors: Mapping[int, Connector], reservation_id: int) -> Connector | None:
    return next((c for c in connectors.values()
                 if c.reservation is not None and c.reservation.reservation_id == reservation_id), None)


def _require_profile(configuration: Configuration, action: str) -> None:
    if PROFILE not in configuration.items(SUPPORTED_FEATURE_PROFILES):
        raise CallError("NotSupported", f"{action}: this station has no Reservation profile")


async def _report_idle(set_status: SetStatus, connector: Connector) -> None:
    if not connector.in_session:  # a session reports its own statuses
        await set_status(connector.connector_id, connector.idle_status)


async def _hold(set_status: SetStatus, connector: Connector, reservation: Reservation) -> None:
    """Report Reserved, then release the connector at the expiry date unless it ended first."""
    await _report_idle(set_status, connector)
    seconds = (reservation.expires_at - datetime.now(UTC)).total_seconds()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await reservation.ended.wait()
    if connector.reservation is reservation:
        _end(connector)
        await _report_idle(set_status, connector)


def csms_calls(connectors: Mapping[int, Connector], configuration: Configuration, set_status: SetStatus) -> Handlers:
    def on_reserve_now(payload: Payload) -> Reply:
        _require_profile(configuration, "ReserveNow")
        connector_id, reservation_id = payload["connectorId"], payload["reservationId"]
        expires_at = parse_timestamp(payload["expiryDate"])
        if connector_id == 0 or connector_id not in connectors:
            # Reserving "any connector" (0) is optional in OCPP 1.6; this station declines it.
            if connector_id == 0 and configuration.flag(RESERVE_CONNECTOR_ZERO_SUPPORTED):
                raise CallError("InternalError", "ReserveConnectorZeroSupported is set but not implemented")
            return Reply({"status": "Rejected"})
        connector = connectors[connector_id]
        if connector.status == "Faulted":
            return Reply({"status": "Faulted"})
        if not connector.operative:
            return Reply({"status": "Unavailable"})
        held = connector.reservation
        if (connector.in_session or connector.cable_connected
                or (held is not None and not held.expired and held.reservation_id != reservation_id)):
            return Reply({"status": "Occupied"})
        if expires_at <= datetime.now(UTC):
            return Reply({"status": "Rejected"})
        # A reservationId the station already holds is replaced, wherever it was.
        previous = _find(connectors, reservation_id)
        if previous is not None:
            _end(previous)
        _end(connector)
        reservation = Reservation(reservation_id, connector_id, payload["idTag"], payload.get("parentIdTag"),
                                  expires_at)
        connector.reservation = reservation

        async def apply() -> None:
            if previous is not None and previous is not connector:
                await _report_idle(set_status, previous)
            await _hold(set_status, connector, reservation)

        return Reply({"status": "Accepted"}, apply)

    def on_cancel_reservation(payload: Payload) -> Reply:
        _require_profile(configuration, "CancelReservation")
        connector = _find(connectors, payload["reservationId"])
        if connector is None:
            return Reply({"status": "Rejected"})
        _end(connector)
        return Reply({"status": "Accepted"}, lambda: _report_idle(set_status, connector))

    return {"ReserveNow": on_reserve_now, "CancelReservation": on_cancel_reservation}
