"""The DataTransfer registry: which vendorId/messageId pairs the CSMS understands.

OCPP 1.6 leaves DataTransfer's content to the two vendors; a CSMS answers a vendor it does
not know with UnknownVendorId, and a message of a known vendor it does not know with
UnknownMessageId. ChargePlane's own vendor id is `org.chargeplane`, with two messages:

* `echo`: Accepted, with `data` sent back unchanged (a round-trip check);
* `ping`: Accepted, with the CSMS's current time as `data` (a clock check).

A deployment adds its vendors' messages with `register()` before the gateway starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chargeplane.common.timeutil import format_ocpp, utcnow
from chargeplane.services.ocpp.core.context import StationContext

CHARGEPLANE_VENDOR_ID = "org.chargeplane"

# (status, data or None): the DataTransfer.conf a message's handler answers.
MessageReply = tuple[str, str | None]
MessageHandler = Callable[[StationContext, str | None], Awaitable[MessageReply]]


async def _echo(ctx: StationContext, data: str | None) -> MessageReply:
    return "Accepted", data


async def _ping(ctx: StationContext, data: str | None) -> MessageReply:
    return "Accepted", format_ocpp(utcnow())


_REGISTRY: dict[str, dict[str, MessageHandler]] = {CHARGEPLANE_VENDOR_ID: {"echo": _echo, "ping": _ping}}


def register(vendor_id: str, message_id: str, handler: MessageHandler) -> None:
    _REGISTRY.setdefault(vendor_id, {})[message_id] = handler


async def answer(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The DataTransfer.conf for a station's DataTransfer.req."""
    messages = _REGISTRY.get(payload["vendorId"])
    if messages is None:
        return {"status": "UnknownVendorId"}
    handler = messages.get(payload.get("messageId", ""))
    if handler is None:
        return {"status": "UnknownMessageId"}
    status, data = await handler(ctx, payload.get("data"))
    return {"status": status} if data is None else {"status": status, "data": data}
