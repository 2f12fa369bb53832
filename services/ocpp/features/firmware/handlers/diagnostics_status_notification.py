"""DiagnosticsStatusNotification: the upload of a diagnostics file (GetDiagnostics), or Idle.
Kept in the station's history (`GET /stations/{id}/maintenance`)."""

from __future__ import annotations

from typing import Any

from chargeplane.services.ocpp.core.context import StationContext

from . import record_notification


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    return await record_notification(ctx, "DiagnosticsStatusNotification", payload)
