"""A station's connectors: their status (StatusNotification), the cable that can be plugged in,
charging sessions (Authorize, StartTransaction, StopTransaction through the transaction queue,
so they survive the connection) and the meter values sent while charging, at a power the
charging profiles allow.

`Connectors` is the mapping connector id -> `Connector` with what can be done to them; it
sends through the station's link and queue and knows nothing else of the station.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any, Final

from . import reservations
from .auth_cache import AuthorizationCache
from .configuration import (
    METER_VALUE_SAMPLE_INTERVAL,
    METER_VALUES_SAMPLED_DATA,
    STOP_TRANSACTION_ON_INVALID_ID,
    TRANSACTION_MESSAGE_ATTEMPTS,
    TRANSACTION_MESSAGE_RETRY_INTERVAL,
    Configuration,
)
from .errors import (
    CallTimeout,
    ConnectorBusy,
    ConnectorStateError,
    ConnectorUnavailable,
    NoActiveTransaction,
    SessionRejected,
    StationOffline,
)
from .events import EventEmitter, EventKind, StationEvent
from .link import Link
from .local_list import LocalAuthList, authorized_locally
from .meter import EnergyMeter
from .model import StationConfig, StationStats, TransactionRecord
from .protocol import CallError, Payload, utc_timestamp
from .smart_charging import ChargingProfiles
from .transaction_queue import QueuedMessage, RetryPolicy, TransactionQueue

# With MeterValueSampleInterval = 0 (periodic samples off) a charging connector still
# re-reads the key this often, so the CSMS can switch samples back on.
METER_OFF_POLL_SECONDS: Final = 1.0
MAX_ID_TAG_LENGTH: Final = 20


@dataclass(slots=True, eq=False)
class Connector:
    connector_id: int
    meter: EnergyMeter
    # What the EV draws while charging; 0 suspends charging (SuspendedEV).
    power_kw: float
    status: str = "Available"
    # Plugged in by hand (plug_in). A session started without it plugs and unplugs implicitly,
    # as a headless station does: Available again straight after the stop.
    cable_connected: bool = False
    # False after ChangeAvailability Inoperative; the connector then idles as Unavailable.
    operative: bool = True
    # Set from the moment a session is requested until it has fully ended, so two sessions
    # cannot race for one connector.
    in_session: bool = False
    charging: bool = False
    transaction_id: int | None = None
    id_tag: str | None = None
    meter_start_wh: int = 0
    # The stop under way, from the moment charging ends until the CSMS has the StopTransaction;
    # concurrent stop requests (local, remote, reset, unplug) join it.
    stopping: asyncio.Task[TransactionRecord] | None = None
    meter_task: asyncio.Task[None] | None = None
    last_transaction: TransactionRecord | None = None
    reservation: reservations.Reservation | None = None

    @property
    def idle_status(self) -> str:
        if not self.operative:
            return "Unavailable"
        if self.reservation is not None:
            return "Reserved"
        return "Preparing" if self.cable_connected else "Available"


def _retrieve_outcome(task: asyncio.Task[Any]) -> None:
    # A stop whose caller went away must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


def charging_status(connector: Connector) -> str:
    if connector.meter.power_w > 0:
        return "Charging"
    # An EV that draws nothing (asked for 0 kW, or its battery is full) has suspended; one
    # that would draw but is limited to 0 by a charging profile is held by the station.
    wants_power = connector.power_kw > 0 and connector.meter.soc_percent < 100.0
    return "SuspendedEVSE" if wants_power else "SuspendedEV"


class Connectors(Mapping[int, Connector]):
    def __init__(self, config: StationConfig, link: Link, configuration: Configuration, queue: TransactionQueue,
                 profiles: ChargingProfiles, local_list: LocalAuthList, auth_cache: AuthorizationCache,
                 stats: StationStats, events: EventEmitter, rng: Random) -> None:
        self._link = link
        self._configuration = configuration
        self._queue = queue
        self._profiles = profiles
        self._local_list = local_list
        self._auth_cache = auth_cache
        self._stats = stats
        self._events = events
        self._rng = rng
        now = time.monotonic()
        self._connectors: dict[int, Connector] = {
            number: Connector(
                number, EnergyMeter(energy_wh=config.initial_energy_wh, updated_at=now), power_kw=config.power_kw
            )
            for number in range(1, config.connectors + 1)
        }
        # The status of connector 0, i.e. of the station as a whole.
        self.station_status = "Available"

    def __getitem__(self, connector_id: int) -> Connector:
        return self._connectors[connector_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._connectors)

    def __len__(self) -> int:
        return len(self._connectors)

    @property
    def active_transactions(self) -> int:
        return sum(1 for connector in self.values() if connector.transaction_id is not None)

    def delivered_energy_wh(self) -> int:
        """Energy of completed transactions plus what open ones have delivered so far."""
        now = time.monotonic()
        in_progress = 0
        for connector in self.values():
            if connector.transaction_id is not None:
                connector.meter.advance(now)
                in_progress += connector.meter.register_wh - connector.meter_start_wh
        return self._stats.energy_delivered_wh + in_progress

    def tasks(self) -> list[asyncio.Task[Any]]:
        """Stop charging and return the connectors' tasks (meter values, stops), to cancel."""
        tasks: list[asyncio.Task[Any]] = []
        for connector in self.values():
            connector.charging = False
            tasks += [task for task in (connector.meter_task, connector.stopping) if task is not None]
        return tasks

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=int(self._configuration.get(TRANSACTION_MESSAGE_ATTEMPTS)),
            interval_seconds=self._configuration.seconds(TRANSACTION_MESSAGE_RETRY_INTERVAL),
        )

    # ----- status --------------------------------------------------------------------------

    async def set_status(self, connector_id: int, status: str) -> None:
        """Change a connector's status (0: the station) and report it if it changed. A change
        made offline is not queued: the boot after reconnecting announces every status."""
        if self._record_status(connector_id, status) and self._link.is_online:
            await self.report_status(connector_id)

    def _set_status_soon(self, connector_id: int, status: str) -> None:
        """set_status() for tasks that may be cancelled: a cancelled caller would leave its
        StatusNotification unanswered while the next CALL goes out, which OCPP forbids."""
        if self._record_status(connector_id, status) and self._link.is_online:
            self._link.spawn(self.report_status(connector_id))

    async def report_status(self, connector_id: int) -> None:
        """Send a StatusNotification with the current status. Best effort: the status is local
        state and is announced again after a reconnect, so a lost notification must not
        abort a session; failures become error events."""
        status = self.station_status if connector_id == 0 else self[connector_id].status
        payload = {"connectorId": connector_id, "errorCode": "NoError", "status": status, "timestamp": utc_timestamp()}
        try:
            await self._link.call("StatusNotification", payload)
        except (StationOffline, CallTimeout, CallError) as exc:
            self._link.report_error(f"StatusNotification {status} for connector {connector_id} failed", exc)

    async def announce_statuses(self) -> None:
        """Report the station's and every connector's status, as after a (re)boot."""
        await self.report_status(0)
        for connector_id in self:
            await self.report_status(connector_id)

    def _record_status(self, connector_id: int, status: str) -> bool:
        if connector_id == 0:
            changed = self.station_status != status
            self.station_status = status
        else:
            connector = self[connector_id]
            changed = connector.status != status
            connector.status = status
        if changed and self._events:
            text = f"connector {connector_id}: {status}"
            self._events.emit(
                StationEvent(EventKind.CONNECTOR, self._link.station_id, text, connector_id=connector_id, state=status)
            )
        return changed

    # ----- smart charging ------------------------------------------------------------------

    def _limit_power(self) -> None:
        """Let each charging connector draw what its EV asks, within its charging profiles."""
        now, wall_clock = time.monotonic(), datetime.now(UTC)
        charging = [c for c in self.values() if c.charging]
        for connector in charging:
            limit_w = self._profiles.power_limit_w(connector.connector_id, wall_clock, len(charging))
            connector.meter.set_power(min(connector.power_kw * 1000.0, limit_w), now)

    async def apply_charging_limits(self) -> None:
        """After a profile was set or cleared: the new limits at once, and the statuses they make."""
        self._limit_power()
        for connector in self.values():
            if connector.charging:
                await self.set_status(connector.connector_id, charging_status(connector))

    # ----- cable and power -----------------------------------------------------------------

    async def plug_in(self, connector_id: int) -> None:
        """An EV's cable is connected: Preparing until a session starts."""
        connector = self._connector(connector_id)
        if connector.cable_connected:
            raise ConnectorStateError(f"connector {connector_id} is already plugged in")
        connector.cable_connected = True
        if not connector.in_session:
            await self.set_status(connector_id, connector.idle_status)

    async def unplug(self, connector_id: int) -> None:
        """The cable is pulled: a transaction on the connector ends (reason EVDisconnected) and
        the connector is Available again."""
        if not self._connector(connector_id).cable_connected:
            raise ConnectorStateError(f"connector {connector_id} is not plugged in")
        await self._release_cable(connector_id, reason="EVDisconnected")

    async def unlock(self, connector_id: int) -> None:
        """UnlockConnector: a transaction on the connector ends (reason UnlockCommand) and the
        cable is released."""
        await self._release_cable(connector_id, reason="UnlockCommand")

    async def _release_cable(self, connector_id: int, reason: str) -> None:
        connector = self._connector(connector_id)
        connector.cable_connected = False
        if connector.transaction_id is not None:
            # The stop ends in the idle status, now that the cable is out.
            await self.stop_session(connector_id, reason=reason)
        elif not connector.in_session:
            await self.set_status(connector_id, connector.idle_status)

    async def set_power(self, connector_id: int, power_kw: float) -> None:
        """Set what the EV draws, at once while it charges; 0 suspends charging."""
        if power_kw < 0:
            raise ValueError("power cannot be negative")
        connector = self._connector(connector_id)
        connector.power_kw = power_kw
        if connector.charging:
            self._limit_power()
            await self.set_status(connector_id, charging_status(connector))

    # ----- sessions ------------------------------------------------------------------------

    async def start_session(self, connector_id: int, id_tag: str, *, authorize: bool = True) -> int:
        """Authorize `id_tag` (skipped with `authorize=False`, as for remote starts by default),
        report Preparing, queue StartTransaction with the connector's register as meterStart
        and wait for the transactionId (through reconnects: the queue resends the start), then
        charge: Charging status and periodic MeterValues. Returns the transactionId."""
        connector = self._connector(connector_id)
        if not id_tag or len(id_tag) > MAX_ID_TAG_LENGTH:
            raise ValueError(f"idTag must be 1..{MAX_ID_TAG_LENGTH} characters")
        if connector.in_session:
            raise ConnectorBusy(f"connector {connector_id} already has a session")
        if not connector.operative:
            raise ConnectorUnavailable(f"connector {connector_id} is inoperative")
        connector.in_session = True
        start: QueuedMessage | None = None
        try:
            # The local list may authorize the tag without asking the CSMS.
            tag_info = (authorized_locally(self._local_list, self._configuration, self._link.is_online, id_tag)
                        if authorize else None)
            if authorize and tag_info is None:
                tag_info = (await self._link.call("Authorize", {"idTag": id_tag}))["idTagInfo"]
                self._auth_cache.remember(id_tag, tag_info)
                if (status := tag_info["status"]) != "Accepted":
                    raise SessionRejected(id_tag, status)
            reservation_id = reservations.claim(connector, id_tag, (tag_info or {}).get("parentIdTag"))
            await self.set_status(connector_id, "Preparing")
            meter_start = connector.meter.register_wh
            start_payload = {"connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start,
                             "timestamp": utc_timestamp()}
            if reservation_id is not None:
                start_payload["reservationId"] = reservation_id
            start = self._queue.put("StartTransaction", start_payload)
            # Shielded: a caller that gives up must not cancel the reply the queue delivers.
            reply = await asyncio.shield(start.reply)
            transaction_id = int(reply["transactionId"])
            tag_status = reply["idTagInfo"]["status"]
            self._auth_cache.remember(id_tag, reply["idTagInfo"])
        except BaseException:
            if start is not None:
                # Not yet sent: the CSMS never hears of it. Sent: the CSMS closes the orphan
                # when this connector starts its next transaction.
                self._queue.withdraw(start)
            connector.in_session = False
            # Recorded at once and reported in the background: the caller may be cancelled.
            self._set_status_soon(connector_id, connector.idle_status)
            raise

        connector.transaction_id = transaction_id
        connector.id_tag = id_tag
        self._profiles.transaction_started(connector_id, transaction_id, datetime.now(UTC))
        connector.meter_start_wh = meter_start
        self._stats.transactions_started += 1
        if tag_status != "Accepted" and self._configuration.flag(STOP_TRANSACTION_ON_INVALID_ID):
            # The CSMS recorded the transaction but refuses the tag: end it straight away.
            await self.stop_session(connector_id, reason="DeAuthorized")
            raise SessionRejected(id_tag, tag_status)

        connector.charging = True
        soc_percent = self._rng.uniform(10.0, 60.0)  # each session brings a different EV
        connector.meter.start_flow(connector.power_kw * 1000.0, soc_percent, time.monotonic())
        self._limit_power()
        await self.set_status(connector_id, charging_status(connector))
        connector.meter_task = asyncio.create_task(
            self._meter_loop(connector), name=f"{self._link.station_id}/{connector_id} meter"
        )
        return transaction_id

    async def stop_session(self, connector_id: int, reason: str = "Local") -> TransactionRecord:
        """End charging (Finishing) and queue StopTransaction (meterStop, timestamp, reason,
        idTag and a Transaction.End energy sample); once the CSMS has it (resent through
        reconnects, like every transaction message) the connector is Available again, or stays
        Finishing while the cable is plugged in. A stop already under way is joined rather
        than sent twice."""
        connector = self._connector(connector_id)
        if connector.stopping is None:
            if connector.transaction_id is None:
                raise NoActiveTransaction(f"connector {connector_id} has no transaction to stop")
            connector.stopping = asyncio.create_task(
                self._stop_transaction(connector, reason), name=f"{self._link.station_id}/{connector_id} stop"
            )
            connector.stopping.add_done_callback(_retrieve_outcome)
        # Shielded: a stop once begun completes even if this caller is cancelled.
        return await asyncio.shield(connector.stopping)

    async def stop_all_sessions(self, reason: str = "Local") -> list[TransactionRecord]:
        """Stop every open transaction; failures are reported as events, not raised."""
        records = []
        for connector in self.values():
            if connector.transaction_id is None:
                continue
            try:
                records.append(await self.stop_session(connector.connector_id, reason))
            except (StationOffline, CallTimeout, CallError, ConnectorStateError) as exc:
                self._link.report_error(f"stopping the session on connector {connector.connector_id} failed", exc)
        return records

    async def _stop_transaction(self, connector: Connector, reason: str) -> TransactionRecord:
        # `stopping` stays set until the final status is out, so every caller that joins
        # gets the record, and close() can still cancel the whole stop.
        try:
            return await self._send_stop(connector, reason)
        finally:
            connector.stopping = None

    async def _send_stop(self, connector: Connector, reason: str) -> TransactionRecord:
        self._end_charging(connector)
        stop = self._stop_payload(connector, reason)
        await self.set_status(connector.connector_id, "Finishing")
        refusal: CallError | CallTimeout | None = None
        try:
            await self._queue.put("StopTransaction", stop).reply
        except (CallError, CallTimeout) as exc:
            # The CSMS refused the stop, or never answered however often it was sent:
            # resending would not help, so the transaction ends here all the same.
            refusal = exc

        record = TransactionRecord(
            connector_id=connector.connector_id,
            transaction_id=stop["transactionId"],
            id_tag=stop["idTag"],
            meter_start_wh=connector.meter_start_wh,
            meter_stop_wh=stop["meterStop"],
            reason=stop["reason"],
            acknowledged=refusal is None,
        )
        connector.transaction_id = None
        connector.id_tag = None
        connector.last_transaction = record
        if refusal is None:
            self._stats.transactions_completed += 1
            self._stats.energy_delivered_wh += record.energy_wh
        connector.in_session = False
        if not connector.cable_connected:
            await self.set_status(connector.connector_id, connector.idle_status)
        if refusal is not None:
            raise refusal
        return record

    def _connector(self, connector_id: int) -> Connector:
        try:
            return self[connector_id]
        except KeyError:
            raise ValueError(f"{self._link.station_id} has no connector {connector_id}") from None

    def _end_charging(self, connector: Connector) -> None:
        connector.charging = False
        connector.meter.stop_flow(time.monotonic())
        self._profiles.transaction_ended(connector.connector_id)
        self._limit_power()  # the others may share more of the station's limit now
        if connector.meter_task is not None:
            connector.meter_task.cancel()
        connector.meter_task = None

    @staticmethod
    def _stop_payload(connector: Connector, reason: str) -> Payload:
        timestamp = utc_timestamp()
        return {
            "transactionId": connector.transaction_id,
            "idTag": connector.id_tag,
            "meterStop": connector.meter.register_wh,
            "timestamp": timestamp,
            "reason": reason,
            "transactionData": [
                {"timestamp": timestamp, "sampledValue": [connector.meter.energy_sample("Transaction.End")]}
            ],
        }

    # ----- meter values --------------------------------------------------------------------

    async def send_meter_values(self, connector_id: int, context: str = "Trigger") -> None:
        """Send one MeterValues for the connector right now (with its transactionId while in
        one), as a TriggerMessage asks; periodic samples go through the transaction queue."""
        await self._link.call("MeterValues", self._meter_values(self._connector(connector_id), context))

    def _meter_values(self, connector: Connector, context: str) -> Payload:
        connector.meter.advance(time.monotonic())
        measurands = self._configuration.items(METER_VALUES_SAMPLED_DATA)
        sample = {
            "timestamp": utc_timestamp(),
            "sampledValue": connector.meter.sampled_values(measurands, context, self._rng),
        }
        payload: Payload = {"connectorId": connector.connector_id, "meterValue": [sample]}
        if connector.transaction_id is not None:
            payload["transactionId"] = connector.transaction_id
        return payload

    async def _meter_loop(self, connector: Connector) -> None:
        while connector.charging:
            interval = self._configuration.seconds(METER_VALUE_SAMPLE_INTERVAL)
            await asyncio.sleep(interval if interval > 0 else METER_OFF_POLL_SECONDS)
            if not connector.charging:
                continue
            connector.meter.advance(time.monotonic())
            self._limit_power()  # a schedule's next period may have begun
            # A battery that filled up since the last sample suspends charging.
            self._set_status_soon(connector.connector_id, charging_status(connector))
            if interval > 0:
                # Queued rather than sent: samples taken offline reach the CSMS on reconnect.
                message = self._queue.put("MeterValues", self._meter_values(connector, "Sample.Periodic"))
                message.reply.add_done_callback(self._report_refused_sample)

    def _report_refused_sample(self, reply: asyncio.Future[Payload]) -> None:
        if not reply.cancelled() and reply.exception() is not None:
            self._link.report_error("MeterValues failed", reply.exception())
