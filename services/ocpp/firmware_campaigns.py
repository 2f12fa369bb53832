"""Firmware campaigns carried out: each gateway replica sends the campaign's UpdateFirmware
(or SignedUpdateFirmware) to the target stations connected to it.

A target is sent once its station is settled on this replica: connected here since the last
sweep, or booted (BootNotification) since the campaign was made, so a station that was
offline gets the update right after its next boot. A station carries out one update at a
time: while one of its campaigns is in progress, the next waits. What the station answers,
and then the FirmwareStatusNotifications it sends (`maintenance_store`), move the target's
status; an offline station or one that did not answer stays Pending and is tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from chargeplane.common.keys import DB_POOL
from chargeplane.common.timeutil import format_ocpp

from .commands import CommandOutcome, CommandRouter
from .keys import CAMPAIGNS, COMMANDS, REGISTRY
from .maintenance_store import CAMPAIGN_ACTIVE_STATUSES
from .registry import ConnectionRegistry

log = structlog.get_logger(__name__)

SWEEP_S = 2.0
SEND_WAIT_S = 30.0
CONCURRENT_SENDS = 20
# A target still Sending this long after it was claimed belongs to a replica that died mid-send.
STALE_SENDING = "5 minutes"
# A station that reported no progress for this long no longer holds up its next campaign.
BUSY_FOR_AT_MOST = "1 hour"

_CLAIM = f"""
WITH candidates AS (
    SELECT DISTINCT ON (t.station_id) t.campaign_id, t.station_id
    FROM firmware_campaign_stations t JOIN charging_stations s ON s.id = t.station_id
    WHERE t.station_id = ANY($1::text[])
      AND (t.status = 'Pending' OR (t.status = 'Sending' AND t.updated_at < now() - interval '{STALE_SENDING}'))
      AND (t.station_id = ANY($2::text[]) OR s.last_boot_at >= t.created_at)
      AND NOT EXISTS (SELECT 1 FROM firmware_campaign_stations busy
                      WHERE busy.station_id = t.station_id AND busy.campaign_id <> t.campaign_id
                        AND busy.status = ANY($3::text[]) AND busy.updated_at > now() - interval '{BUSY_FOR_AT_MOST}')
    ORDER BY t.station_id, t.campaign_id
)
UPDATE firmware_campaign_stations t SET status = 'Sending', attempts = t.attempts + 1, updated_at = now()
FROM candidates c, firmware_campaigns f
WHERE t.campaign_id = c.campaign_id AND t.station_id = c.station_id AND f.id = c.campaign_id
  AND (t.status = 'Pending' OR t.status = 'Sending')
RETURNING t.campaign_id, t.station_id, f.location, f.retrieve_date, f.install_date, f.retries, f.retry_interval,
          f.signing_certificate, f.signature
"""


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
    if outcome.status == "error":
        return "Error"
    if outcome.status != "result":
        return "Pending"
    # UpdateFirmware.conf is empty; SignedUpdateFirmware.conf says Accepted (AcceptedCanceled:
    # accepted, an earlier update cancelled) or why not.
    answer = outcome.payload.get("status", "Accepted")
    return "Accepted" if answer == "AcceptedCanceled" else str(answer)


class CampaignDispatcher:
    def __init__(self, pool: asyncpg.Pool, commands: CommandRouter, registry: ConnectionRegistry) -> None:
        self._pool = pool
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
        waiting = {r["station_id"] for r in await self._pool.fetch(
            "SELECT DISTINCT station_id FROM firmware_campaign_stations WHERE status IN ('Pending', 'Sending')")}
        if not (here := waiting & connected):
            return
        claimed = await self._pool.fetch(_CLAIM, list(here), list(here & settled), CAMPAIGN_ACTIVE_STATUSES)
        await asyncio.gather(*(self._send(target) for target in claimed))

    async def _send(self, target: asyncpg.Record) -> None:
        action, payload = update_request(target)
        async with self._sends:
            outcome = await self._commands.send(target["station_id"], action, payload, SEND_WAIT_S)
        status = status_after(outcome)
        reply = outcome.payload if outcome.status in ("result", "error") else None
        # Only a target still Sending takes the answer: the station may already have reported
        # its first firmware status, which is newer news.
        await self._pool.execute(
            "UPDATE firmware_campaign_stations SET status = CASE WHEN status = 'Sending' THEN $3 ELSE status END,"
            " reply = $4, sent_at = CASE WHEN $3 = 'Pending' THEN sent_at ELSE now() END, updated_at = now()"
            " WHERE campaign_id = $1 AND station_id = $2",
            target["campaign_id"], target["station_id"], status, reply,
        )
        log.info("firmware update sent", station_id=target["station_id"], campaign_id=target["campaign_id"],
                 action=action, outcome=outcome.status, status=status)


async def dispatcher_context(app: web.Application) -> AsyncIterator[None]:
    """After `commands_context`: the dispatcher sends through the command router."""
    dispatcher = CampaignDispatcher(app[DB_POOL], app[COMMANDS], app[REGISTRY])
    app[CAMPAIGNS] = dispatcher
    task = asyncio.create_task(dispatcher.run_forever(), name="firmware-campaigns")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
