"""The OCPP 1.6 routing table: action -> request schema, reply schema, handler. The features
bring the handlers (`feature.Feature.handlers`); an action no feature handles is answered
NotImplemented."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .context import StationContext

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


def route_table(handlers: Iterable[tuple[str, Handler]]) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for action, handler in handlers:
        if action in routes:
            raise ValueError(f"{action} is handled twice")
        routes[action] = Route(action, handler)
    return routes
