from __future__ import annotations

from typing import Any

from chargeplane.services.ocpp.core.context import StationContext


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"idTagInfo": await ctx.auth.id_tag_info(payload["idTag"])}
