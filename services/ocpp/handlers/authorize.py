from __future__ import annotations

from typing import Any

from ..context import StationContext

# Until the id-tag table exists (auth service), every tag is accepted: a station that
# cannot charge is worse for a new network than one that charges unknown tags.
DEFAULT_ID_TAG_INFO = {"status": "Accepted"}


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"idTagInfo": DEFAULT_ID_TAG_INFO}
