"""What a feature (one OCPP functional block, `features/<name>/`) adds to the gateway's core,
and the set of features one gateway is made of.

The core knows no feature: it serves what `Features` holds, which `app.py` builds from the
features' declarations, each hook bound to the app. A feature adds
* `handlers`: the CALLs stations send that it answers (action -> handler);
* `views`: its part of the internal API; `station_routes`: what stations use beside OCPP (the
  upload endpoint), served on the listeners stations reach (`listeners`);
* `recorders`: what it keeps of a station's valid reply to a command (action -> recorder),
  run by the command router whoever sent the command;
* `checks`: what it refuses in a command from the API beyond the action's schema;
* `contexts`: its objects and background work (aiohttp cleanup contexts);
* hooks into the core's events: `on_boot` (a BootNotification answered Accepted, run after
  the reply), `on_registered` (a station's registration stored), `on_transactions` (inside the
  commit that started, stopped or ended transactions);
* `station_states`: its part of many stations' state at once (`POST /internal/stations/states`,
  the operator's status read), as station id -> {key: value}.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .commands import Command, Recorder
from .committer import Transaction
from .context import BootHook
from .listeners import StationRoute
from .registration import RegistrationChange
from .router import Handler, Route, route_table
from .store import TransactionChange, TransactionHook

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
FeatureRecorder = Callable[[web.Application, Command, dict[str, Any]], Awaitable[Any]]
# raises an ApiError for a command it refuses
Check = Callable[[web.Application, Command], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StatesQuery:
    """Which stations' state is asked for, and of which of them the configuration too (it costs
    more than the rest together, so only the stations with keys to enforce pay for it)."""

    station_ids: list[str]
    configuration_of: frozenset[str]


StationStates = Callable[[web.Application, StatesQuery], Awaitable[Mapping[str, Mapping[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    views: Sequence[web.AbstractRouteDef] = ()
    station_routes: Sequence[StationRoute] = ()
    recorders: Mapping[str, FeatureRecorder] = field(default_factory=dict)
    checks: Mapping[str, Check] = field(default_factory=dict)
    contexts: Sequence[CleanupContext] = ()
    on_boot: Callable[[web.Application, str], Awaitable[None]] | None = None
    on_registered: Callable[[web.Application, RegistrationChange], None] | None = None
    on_transactions: Callable[[web.Application, Transaction, TransactionChange], Awaitable[None]] | None = None
    station_states: StationStates | None = None


class Features:
    """One gateway's features, in order: their recorders and hooks run in this order."""

    def __init__(self, app: web.Application, features: Sequence[Feature]) -> None:
        self.features = tuple(features)
        self.routes: dict[str, Route] = route_table(
            (action, handler) for feature in features for action, handler in feature.handlers.items())
        self.recorders: dict[str, list[tuple[str, Recorder]]] = {}
        self._checks: dict[str, list[Callable[[Command], Awaitable[None]]]] = {}
        for feature in features:
            for action, record in feature.recorders.items():
                self.recorders.setdefault(action, []).append((feature.name, functools.partial(record, app)))
            for action, check in feature.checks.items():
                self._checks.setdefault(action, []).append(functools.partial(check, app))
        self.on_boot: list[BootHook] = [functools.partial(f.on_boot, app) for f in features if f.on_boot]
        self._on_registered = [functools.partial(f.on_registered, app) for f in features if f.on_registered]
        self.on_transactions: list[TransactionHook] = [
            functools.partial(f.on_transactions, app) for f in features if f.on_transactions]
        self._station_states = [functools.partial(f.station_states, app) for f in features if f.station_states]

    async def check(self, command: Command) -> None:
        for check in self._checks.get(command.action, ()):
            await check(command)

    def registered(self, change: RegistrationChange) -> None:
        for hook in self._on_registered:
            hook(change)

    async def station_states(self, query: StatesQuery, states: dict[str, dict[str, Any]]) -> None:
        """Add every feature's part to `states` (station id -> state) of the registered stations."""
        for contribute in self._station_states:
            for station_id, part in (await contribute(query)).items():
                if station_id in states:
                    states[station_id].update(part)


FEATURES = web.AppKey("features", Features)
