"""The gateway's own configuration calls: it reads a station's keys itself (GetConfiguration)
once its BootNotification is Accepted, and after every GetConfiguration or accepted
ChangeConfiguration sent through the API. The desired values (`desired_configuration`, set
through the registry) are enforced whenever the station is online: after each boot, and when
they change. A key is changed only when the value the station reports differs from the
desired one, and the station's answer to each ChangeConfiguration is kept, so the API and the
operator can show which keys the station refused.

What a station answers is kept by the recorders here, whoever sent the command.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.timeutil import utcnow
from chargeplane.services.ocpp.core.commands import COMMANDS, Command, CommandOutcome, CommandRouter
from chargeplane.services.ocpp.core.registration import WRITE_ONLY_KEYS, RegistrationChange
from chargeplane.services.ocpp.core.store import STORE

from .repository import ConfigurationRepository
from .rules import TAKEN, change_answer, keys_to_change

log = structlog.get_logger(__name__)

NAME = "configuration"
# How long the gateway waits for each of its own configuration calls to a station.
CALL_TIMEOUT_S = 30.0


class ConfigurationSync:
    """Reads and enforces stations' configuration in the background; one pass at a time per station."""

    def __init__(self, repository: ConfigurationRepository, commands: CommandRouter) -> None:
        self.repository = repository
        self.commands = commands
        self._running: set[asyncio.Task[None]] = set()
        # a station's lock lives as long as a pass holds or awaits it
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def after_boot(self, station_id: str) -> None:
        """The station's BootNotification was answered Accepted: read its keys, then enforce."""
        await self._one_at_a_time(station_id, self._after_boot)

    def desired_changed(self, station_id: str) -> None:
        """Enforce the new desired values, wherever the station is connected (if it is)."""
        self._start(station_id, self.enforce)

    async def close(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _start(self, station_id: str, work: Callable[[str], Awaitable[None]]) -> None:
        task = asyncio.create_task(self._one_at_a_time(station_id, work))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _one_at_a_time(self, station_id: str, work: Callable[[str], Awaitable[None]]) -> None:
        lock = self._locks.setdefault(station_id, asyncio.Lock())
        try:
            async with lock:
                await work(station_id)
        except Exception as exc:  # the next boot or desired change tries again
            log.warning("station configuration sync failed", station_id=station_id, error=repr(exc))

    async def _after_boot(self, station_id: str) -> None:
        if await self.refresh(station_id):  # something desired: enforce it
            await self.enforce(station_id)

    async def refresh(self, station_id: str, keys: list[str] | None = None) -> dict[str, str]:
        """Ask the station for its keys (all, or `keys`); the recorder keeps the answer. Return
        the station's desired values (none when it gave no answer)."""
        outcome = await self.commands.send(station_id, "GetConfiguration", {"key": keys} if keys else {},
                                           CALL_TIMEOUT_S, source="gateway")
        if outcome.status != "result":
            log.info("station configuration not read", station_id=station_id, outcome=outcome.status,
                     error=outcome.payload.get("errorCode"))
            return {}
        desired: dict[str, str] = outcome.recorded[NAME]
        return desired

    async def enforce(self, station_id: str) -> None:
        """ChangeConfiguration for each desired key the station reports otherwise, then read back
        the keys it took. Stops when the station is offline: its next boot enforces again."""
        configuration = await self.repository.load(station_id)
        if configuration is None:
            return
        changed = []
        for key, value in keys_to_change(configuration.desired, configuration.reported).items():
            outcome = await self.commands.send(station_id, "ChangeConfiguration", {"key": key, "value": value},
                                               CALL_TIMEOUT_S, source="desired")
            if outcome.status == "offline":
                return
            # a reply was kept by the recorder; a failure has no reply to record, so it is kept here
            status = outcome.recorded[NAME] if outcome.status == "result" else await self.record_change(
                station_id, key, value, outcome, source="desired")
            if status in TAKEN:
                changed.append(key)
        if changed:
            await self.refresh(station_id, changed)

    async def record_change(self, station_id: str, key: str, value: str, outcome: CommandOutcome,
                            source: str) -> str:
        status, detail = change_answer(outcome)
        await self.repository.record_change(station_id, key, value, status, detail, source, utcnow())
        log.info("station configuration changed" if status in TAKEN else "station configuration change refused",
                 station_id=station_id, key=key, status=status, source=source, detail=detail)
        return status

    # ----- recorders: what a station's reply to a configuration command says -----------------

    async def on_get_configuration(self, command: Command, reply: Mapping[str, Any]) -> dict[str, str]:
        """Keep the keys reported; return the station's desired values. A reply to a question
        for every key (no `key` asked) is the whole truth: keys it no longer lists are forgotten."""
        desired = await self.repository.store_report(command.station_id, reply, command.payload.get("key"),
                                                     utcnow())
        log.info("station configuration reported", station_id=command.station_id,
                 keys=len(reply.get("configurationKey", [])), unknown_keys=len(reply.get("unknownKey", [])))
        return desired

    async def on_change_configuration(self, command: Command, reply: dict[str, Any]) -> str | None:
        """Keep the station's answer; a change sent through the API that the station took is read
        back at once (`enforce` reads back all its keys together)."""
        key, value = command.payload["key"], command.payload["value"]
        if key in WRITE_ONLY_KEYS:  # not configuration: the security extension's password
            return None
        status = await self.record_change(command.station_id, key, value, CommandOutcome("result", reply),
                                          command.source)
        if command.source == "api" and status in TAKEN:
            await self.refresh(command.station_id, [key])
        return status


CONFIGURATION = web.AppKey("configuration", ConfigurationSync)


async def record_get_configuration(app: web.Application, command: Command, reply: dict[str, Any]) -> dict[str, str]:
    return await app[CONFIGURATION].on_get_configuration(command, reply)


async def record_change_configuration(app: web.Application, command: Command, reply: dict[str, Any]) -> str | None:
    return await app[CONFIGURATION].on_change_configuration(command, reply)


async def after_boot(app: web.Application, station_id: str) -> None:
    await app[CONFIGURATION].after_boot(station_id)


def registered(app: web.Application, change: RegistrationChange) -> None:
    desired = change.registration.desired_configuration
    if desired and (change.previous is None or desired != change.previous.desired_configuration):
        app[CONFIGURATION].desired_changed(change.station_id)


async def configuration_context(app: web.Application) -> AsyncIterator[None]:
    """After the core's: the gateway's own configuration calls go through its command router."""
    sync = ConfigurationSync(ConfigurationRepository(app[DB_POOL], app[STORE]), app[COMMANDS])
    app[CONFIGURATION] = sync
    yield
    await sync.close()
