"""DataTransfer on the station side: the vendor/message pairs the station understands when
the CSMS sends one, and sending one to the CSMS.

Like the CSMS, the station knows ChargePlane's vendor id `org.chargeplane` with `echo` (data
sent back) and `ping` (the station's clock as data); another vendor is UnknownVendorId, another
message of that vendor UnknownMessageId.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .protocol import Payload, utc_timestamp
from .replies import Caller, Handlers, Reply

CHARGEPLANE_VENDOR_ID: Final = "org.chargeplane"

# (status, data or None)
MessageReply = tuple[str, str | None]
MESSAGES: Final[dict[str, dict[str, Callable[[str | None], MessageReply]]]] = {
    CHARGEPLANE_VENDOR_ID: {
        "echo": lambda data: ("Accepted", data),
        "ping": lambda data: ("Accepted", utc_timestamp()),
    },
}


def csms_calls() -> Handlers:
    return {"DataTransfer": on_data_transfer}


def on_data_transfer(payload: Payload) -> Reply:
    messages = MESSAGES.get(payload["vendorId"])
    if messages is None:
        return Reply({"status": "UnknownVendorId"})
    handler = messages.get(payload.get("messageId", ""))
    if handler is None:
        return Reply({"status": "UnknownMessageId"})
    status, data = handler(payload.get("data"))
    return Reply({"status": status} if data is None else {"status": status, "data": data})


async def send_data_transfer(station: Caller, vendor_id: str, message_id: str | None = None,
                             data: str | None = None) -> Payload:
    """Send a DataTransfer to the CSMS; return its DataTransfer.conf."""
    request: Payload = {"vendorId": vendor_id}
    if message_id is not None:
        request["messageId"] = message_id
    if data is not None:
        request["data"] = data
    return await station.call("DataTransfer", request)
