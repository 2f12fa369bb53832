"""The one rule for a station id, wherever one comes in: the gateway's handshake and registry,
the public API (its OpenAPI document carries the pattern), the other services' request
bodies, and the ChargingStation CRD (a test keeps the CRD's pattern equal to this one).

OCPP 2.0.1's identifierString, at most 48 characters: nothing a path, a log line, a header
or a shell could take for anything but a name."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

STATION_ID_MAX_LENGTH = 48
# Anchored, and in the syntax Python, pydantic, JSON Schema and Kubernetes (Go) all read alike.
STATION_ID_PATTERN = rf"^[A-Za-z0-9*\-_=:+|@.]{{1,{STATION_ID_MAX_LENGTH}}}$"
STATION_ID_RULE = f"a station id is 1 to {STATION_ID_MAX_LENGTH} of A-Z a-z 0-9 * - _ = : + | @ ."

_STATION_ID = re.compile(STATION_ID_PATTERN)

# a station id in a request body (pydantic)
StationId = Annotated[str, StringConstraints(pattern=STATION_ID_PATTERN)]


def is_valid_station_id(station_id: str) -> bool:
    return _STATION_ID.fullmatch(station_id) is not None
