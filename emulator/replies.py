"""A station's answer to a CSMS-initiated CALL, apart from `csms_calls` so that the modules
of each feature (local list, reservations, ...) can answer calls and still be registered in
`csms_calls.HANDLERS` without an import cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from .protocol import Payload


class Reply(NamedTuple):
    payload: Payload
    then: Callable[[], Awaitable[Any]] | None = None
