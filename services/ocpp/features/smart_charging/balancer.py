"""Charging sites: a power limit shared by a group of stations, divided among their sessions.

Each active session of a site's stations gets an equal share of the site's limit, sent as a
TxProfile for its transaction. A TxProfile rather than a TxDefaultProfile because the share
belongs to a session: the station applies it to the running transaction at once and drops
it by itself when the transaction ends, so a finished session leaves no stale limit behind,
and a connector's own TxDefaultProfile (set by the operator) stays as it was.

The commit that starts or stops a session (or ends a rebooted station's) also drops the
station's TxProfiles whose transaction ended and finds its site (`charging_profiles`: one
statement per batch of stations, no round trip of its own). The commit then only *schedules*
the re-division (the station's CALLRESULT never waits for it): a short settling delay lets
the station learn its transactionId first and folds a burst of starts into one re-division.
A share the station did not accept (offline, no answer, Rejected, a database error) is
logged and the re-division is tried again, with a growing delay, a bounded number of times;
the next session start or stop tries anew.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import structlog
from aiohttp import web

from chargeplane.services.ocpp.core.commands import COMMANDS, CommandRouter

from .repository import SMART_CHARGING, SmartChargingRepository
from .sites import is_site_profile, share_w, site_share_command

log = structlog.get_logger(__name__)

SETTLE_S = 0.5
RETRY_S = 1.0
RETRY_MAX_S = 30.0
ATTEMPTS = 6
SEND_WAIT_S = 15.0
CLOSE_WAIT_S = 5.0


class SiteBalancer:
    def __init__(self, repository: SmartChargingRepository, commands: CommandRouter) -> None:
        self._repository = repository
        self._commands = commands
        self._dirty: set[str] = set()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def site_changed(self, site_id: str) -> None:
        """The site's limit or stations changed: divide again."""
        self._dirty.add(site_id)
        running = self._workers.get(site_id)
        if running is None or running.done():  # a running worker divides again before it ends
            worker = self._workers[site_id] = asyncio.create_task(self._divide_until_done(site_id))
            worker.add_done_callback(lambda done: self._forget_worker(site_id, done))

    def release(self, station_id: str) -> None:
        """The station left its site: clear the shares it still holds."""
        self._spawn(self._release(station_id))

    def _forget_worker(self, site_id: str, worker: asyncio.Task[None]) -> None:
        if self._workers.get(site_id) is worker:
            del self._workers[site_id]

    async def close(self) -> None:
        tasks = [*self._tasks, *self._workers.values()]
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a send stuck on a dying connection must not hold up the shutdown
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _divide_until_done(self, site_id: str) -> None:
        attempt = 0
        while site_id in self._dirty:
            await asyncio.sleep(SETTLE_S)
            self._dirty.discard(site_id)
            try:
                failed = await self.divide(site_id)
            except Exception as exc:  # the database or Redis may be away for a moment
                log.warning("site limit not divided", site_id=site_id, error=repr(exc))
                failed = 1
            if not failed or site_id in self._dirty:
                attempt = 0
                continue
            if attempt + 1 >= ATTEMPTS:
                log.error("site limit gave up", site_id=site_id, attempts=ATTEMPTS)
                return
            await asyncio.sleep(_backoff(attempt))
            attempt += 1
            self._dirty.add(site_id)

    async def divide(self, site_id: str) -> int:
        """Send each active session of the site its share; return how many were not accepted."""
        max_power_w = await self._repository.site_limit(site_id)
        if max_power_w is None:
            return 0
        sessions = await self._repository.site_sessions(site_id)
        limit_w = share_w(max_power_w, len(sessions))
        log.info("site limit divided", site_id=site_id, max_power_w=max_power_w, sessions=len(sessions),
                 share_w=limit_w)
        outcomes = await asyncio.gather(*(
            self._send_share(site_id, s["station_id"], site_share_command(s["connector_id"], s["transaction_id"],
                                                                          limit_w), s["held"])
            for s in sessions))
        return outcomes.count(False)

    async def _send_share(self, site_id: str, station_id: str, command: dict[str, Any],
                          held: dict[str, Any] | None) -> bool:
        profile = command["csChargingProfiles"]
        if held == profile:
            return True  # the station has this very share already
        # accepted, the profile is kept by the recorder (`charging_profiles`)
        outcome = await self._commands.send(station_id, "SetChargingProfile", command, SEND_WAIT_S, source="site")
        context = {"site_id": site_id, "station_id": station_id, "connector_id": command["connectorId"],
                   "transaction_id": profile["transactionId"],
                   "limit_w": profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]}
        if outcome.status == "result" and outcome.payload["status"] == "Accepted":
            log.info("site share applied", **context)
            return True
        log.warning("site share not applied", outcome=outcome.status, reply=outcome.payload, **context)
        return False

    async def _release(self, station_id: str) -> None:
        # Not retried: a share left behind ends with its session (the station drops a TxProfile then).
        try:
            held = [p for p in await self._repository.profiles(station_id)
                    if is_site_profile(p["charging_profile_id"])]
            for profile in held:
                clear = {"id": profile["charging_profile_id"]}
                # answered (Accepted, or Unknown: it no longer has it either way), the recorder forgets it
                outcome = await self._commands.send(station_id, "ClearChargingProfile", clear, SEND_WAIT_S,
                                                    source="site")
                if outcome.status != "result":
                    log.warning("site share not cleared", station_id=station_id, outcome=outcome.status, **clear)
        except Exception as exc:  # the database or Redis may be away for a moment
            log.warning("site share not cleared", station_id=station_id, error=repr(exc))


def _backoff(attempt: int) -> float:
    return float(min(RETRY_S * 2**attempt, RETRY_MAX_S))


SITES = web.AppKey("sites", SiteBalancer)


async def balancer_context(app: web.Application) -> AsyncIterator[None]:
    """After the repository's context: the balancer divides with it."""
    balancer = app[SITES] = SiteBalancer(app[SMART_CHARGING], app[COMMANDS])
    yield
    await balancer.close()
