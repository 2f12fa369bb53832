"""What the operator's functions log through: kopf's per-resource logger in a handler, the
operator's own (structlog) in a namespace's loop; both answer these."""

from __future__ import annotations

from typing import Any, Protocol


class Log(Protocol):
    def debug(self, message: str, /) -> Any: ...
    def info(self, message: str, /) -> Any: ...
    def warning(self, message: str, /) -> Any: ...
