"""The stations' own record of every CALL they sent and the reply it got, one JSON object a
line, so a test can hold the CSMS's database against what the stations were told.

A line is `{"station", "unique_id", "action", "payload", "at"}` plus exactly one of
`"result"` (the CALLRESULT payload), `"error"` (the CALLERROR code) or `"no_reply"` (why
none came: `timeout` or `offline`). A CALLRESULT is the CSMS's promise that it has the
message; a message without one may or may not have reached it.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson

from .protocol import Payload, utc_timestamp


class Ledger:
    """Appends lines to one file; shared by every station of a fleet (one event loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()

    def record(self, station_id: str, unique_id: str, action: str, payload: Payload, outcome: dict[str, Any]) -> None:
        line = {"station": station_id, "unique_id": unique_id, "action": action, "payload": payload,
                "at": utc_timestamp(), **outcome}
        self._file.write(orjson.dumps(line) + b"\n")

    def close(self) -> None:
        self._file.close()


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Every line of a ledger file; a line cut short by a killed writer is left out."""
    entries = []
    for line in path.read_bytes().splitlines():
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return entries
