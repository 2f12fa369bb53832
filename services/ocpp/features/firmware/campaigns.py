"""Firmware campaigns carried out: each gateway replica sends the campaign's UpdateFirmware
(or SignedUpdateFirmware) to the target stations connected to it.

A target is sent once its station is settled on this replica: connected here since the last
sweep, or booted (BootNotification) since the campaign was made, so a station that was
offline gets the update right after its next boot. A station carries out one update at a
time: while one of its campaigns is in progress, the next waits. What the station answers,
and then the FirmwareStatusNotifications it sends (`repository`), move the target's
status; an offline station or one that did not answer stays Pending and is tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from chargeplane.common.timeutil import format_ocpp
from chargeplane.services.ocpp.core.commands import COMMANDS, CommandOutcome, CommandRouter
from chargeplane.services.ocpp.core.registry import REGISTRY, ConnectionRegistry

from .repository import FIRMWARE, FirmwareRepository

log = structlog.get_logger(__name__)

SWEEP_S = 2.0
SEND_WAIT_S = 30.0
CONCURRENT_SENDS = 20

def update_request(campaign: asyncpg.Record) -> tuple[str, dict[str, Any]]:
    """The action and payload a campaign sends: SignedUpdateFirmware (its requestId is the
    campaign's id) when it carries a signature, UpdateFirmware otherwise."""
    options = {key: campaign[column] for key, column in (("retries", "retries"), ("retryInterval", "retry_interval"))
               if campaign[column] is not None}
    if campaign["signature"] is None:
        return "UpdateFirmware", {"location": campaign["location"],
                                  "retrieveDate": format_ocpp(campaign["retrieve_date"]), **options}
    firmware = {"location": campaign["location"], "retrieveDateTime": format_ocpp(campaign["retrieve_date"]),
                "signingCertificate": campaign["signing_certificate"], "signature": campaign["signature"]}
    if campaign["install_date"] is not None:
        firmware["installDateTime"] = format_ocpp(campaign["install_date"])
    return "SignedUpdateFirmware", {"requestId": campaign["campaign_id"], "firmware": firmware, **options}


def status_after(outcome: CommandOutcome) -> str:
    """The target's status once the station answered (`Pending` again when it did not)."""
    if outcome.status in ("error", "invalid"):  # it answered, but not so that the update goes ahead
        return "Error"
    if outcome.status != "result":
        return "Pending"
    # UpdateFirmware.conf is empty; SignedUpdateFirmware.conf says Accepted (AcceptedCanceled:
    # accepted, an earlier update cancelled) or why not.
    answer = outcome.payload.get("status", "Accepted")
    return "Accepted" if answer == "AcceptedCanceled" else str(answer)


class CampaignDispatcher:
    def __init__(self, repository: FirmwareRepository, commands: CommandRouter, registry: ConnectionRegistry) -> None:
        self._repository = repository
        self._commands = commands
        self._registry = registry
        self._wakeup = asyncio.Event()
        self._connected_last_sweep: set[str] = set()
        self._sends = asyncio.Semaphore(CONCURRENT_SENDS)

    def wake(self) -> None:
        """A campaign was made: sweep now rather than at the next tick."""
        self._wakeup.set()

    async def run_forever(self) -> None:
        while True:
            try:
                async with asyncio.timeout(SWEEP_S):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.sweep()
            except Exception as exc:  # the database may be away; the next sweep tries again
                log.warning("firmware campaign sweep failed", error=repr(exc))

    async def sweep(self) -> None:
        connected = set(self._registry.station_ids())
        settled = connected & self._connected_last_sweep
        self._connected_last_sweep = connected
        if not connected:
            return
        # Few stations wait for a campaign, many are connected: ask only about the former.
        if not (here := await self._repository.waiting_stations() & connected):
            return
        claimed = await self._repository.claim(list(here), list(here & settled))
        await asyncio.gather(*(self._send(target) for target in claimed))

    async def _send(self, target: asyncpg.Record) -> None:
        action, payload = update_request(target)
        async with self._sends:
            outcome = await self._commands.send(target["station_id"], action, payload, SEND_WAIT_S,
                                                source="campaign")
        status = status_after(outcome)
        reply = outcome.payload if outcome.status in ("result", "error", "invalid") else None
        await self._repository.record_send(target["campaign_id"], target["station_id"], status, reply)
        log.info("firmware update sent", station_id=target["station_id"], campaign_id=target["campaign_id"],
                 action=action, outcome=outcome.status, status=status)


CAMPAIGNS = web.AppKey("firmware_campaigns", CampaignDispatcher)


async def dispatcher_context(app: web.Application) -> AsyncIterator[None]:
    """After the repository's context: the dispatcher sends through the command router."""
    dispatcher = CampaignDispatcher(app[FIRMWARE], app[COMMANDS], app[REGISTRY])
    app[CAMPAIGNS] = dispatcher
    task = asyncio.create_task(dispatcher.run_forever(), name="firmware-campaigns")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
