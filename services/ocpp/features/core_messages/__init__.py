"""Core profile: the station's life (BootNotification, Heartbeat, StatusNotification), its
transactions (Authorize, StartTransaction, StopTransaction, MeterValues), and remote starts
followed up. What the messages change is kept by the core's station store."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from . import remote_starts, views
from .handlers import (
    authorize,
    boot_notification,
    heartbeat,
    meter_values,
    start_transaction,
    status_notification,
    stop_transaction,
)

FEATURE = Feature(
    name="core_messages",
    handlers={
        "BootNotification": boot_notification.handle,
        "Heartbeat": heartbeat.handle,
        "StatusNotification": status_notification.handle,
        "Authorize": authorize.handle,
        "StartTransaction": start_transaction.handle,
        "StopTransaction": stop_transaction.handle,
        "MeterValues": meter_values.handle,
    },
    views=views.routes,
    recorders={"RemoteStartTransaction": remote_starts.record_reply},
    contexts=(remote_starts.remote_starts_context,),
    on_transactions=remote_starts.settle_started,
)
