"""The OCPP 1.6 routing table: action -> request schema, reply schema, handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .context import StationContext
from .handlers import (
    authorize,
    boot_notification,
    data_transfer,
    diagnostics_status_notification,
    firmware_status_notification,
    heartbeat,
    log_status_notification,
    meter_values,
    security_event_notification,
    sign_certificate,
    signed_firmware_status_notification,
    start_transaction,
    status_notification,
    stop_transaction,
)

Handler = Callable[[StationContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Route:
    action: str
    handler: Handler

    @property
    def request_schema(self) -> str:
        return self.action

    @property
    def response_schema(self) -> str:
        return f"{self.action}Response"


ROUTES: dict[str, Route] = {
    route.action: route
    for route in (
        Route("BootNotification", boot_notification.handle),
        Route("Heartbeat", heartbeat.handle),
        Route("StatusNotification", status_notification.handle),
        Route("Authorize", authorize.handle),
        Route("StartTransaction", start_transaction.handle),
        Route("StopTransaction", stop_transaction.handle),
        Route("MeterValues", meter_values.handle),
        Route("DataTransfer", data_transfer.handle),
        Route("FirmwareStatusNotification", firmware_status_notification.handle),
        Route("DiagnosticsStatusNotification", diagnostics_status_notification.handle),
        Route("LogStatusNotification", log_status_notification.handle),
        Route("SignedFirmwareStatusNotification", signed_firmware_status_notification.handle),
        Route("SignCertificate", sign_certificate.handle),
        Route("SecurityEventNotification", security_event_notification.handle),
    )
}

# Actions OCPP 1.6 defines for a station to send that we do not handle yet: they get
# NotSupported (a known action) rather than NotImplemented (an unknown one).
