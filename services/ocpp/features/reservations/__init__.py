"""Reservation profile: ReserveNow and CancelReservation, and the reservations they make,
consumed by the StartTransaction that carries one, released when they expire."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from . import reservations, views

FEATURE = Feature(
    name=reservations.NAME,
    views=views.routes,
    recorders={"ReserveNow": reservations.record_reply, "CancelReservation": reservations.record_reply},
    contexts=(reservations.reservations_context,),
    on_transactions=reservations.consume_started,
)
