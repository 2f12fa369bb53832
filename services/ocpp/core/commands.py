"""CSMS-initiated OCPP commands, routed to the gateway replica that holds the station.

The station's WebSocket lives on one replica; a command may arrive at any. Each replica
claims its stations in Redis (`ocpp:owner:{station}` = replica id) and reads commands for
itself from its own stream `ocpp:commands:{replica}`; the reply goes back on a
per-request list the caller waits on (BLPOP), so every wait is bounded. A station that
reconnects elsewhere claims its key there, and is found there.

A replica that dies leaves its claims behind: they count only while the replica's own
key `ocpp:replica:{replica}` lives, a TTL the replica refreshes. One key per replica,
not a TTL per station, so keeping claims alive costs the same for 50,000 stations as
for one; and the claims of stations connecting together go to Redis in one pipeline.

Every command goes through `CommandRouter.send`, whoever sends it (the internal API, or the
gateway itself: configuration it enforces, a site's shares, certificates, firmware). There a
station's CALLRESULT is checked once against the action's `{Action}Response` schema, and a
valid one is handed to the recorders of the features that keep what it changed (one table,
action -> recorders); an invalid one is recorded by none and comes back as `invalid`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chargeplane.common.settings import SETTINGS
from chargeplane.common.tracing import untraced

from . import schemas
from .coalescer import Coalescer
from .protocol import CallResult, OcppError
from .registry import REGISTRY, ConnectionRegistry

log = structlog.get_logger(__name__)

REPLICA_TTL_S = 30
REPLICA_REFRESH_S = 10
MAX_CLAIMS = 1000  # per pipeline
REPLY_TTL_S = 120
# Delete the owner key only if this replica still holds it (a newer connection elsewhere wins).
_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def owner_key(station_id: str) -> str:
    return f"ocpp:owner:{station_id}"


def replica_key(replica_id: str) -> str:
    return f"ocpp:replica:{replica_id}"


def stream_key(replica_id: str) -> str:
    return f"ocpp:commands:{replica_id}"


def reply_key(request_id: str) -> str:
    return f"ocpp:replies:{request_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Command:
    """A command for a station, and who sends it: `api` (the internal API) or the gateway's
    own sender (`desired` configuration, a `site`'s shares, ...)."""

    station_id: str
    action: str
    payload: dict[str, Any]
    source: str = "api"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What became of a command: `result` (the CALLRESULT payload, valid against the action's
    reply schema), `invalid` (a CALLRESULT that is not: the reply and what breaks the schema),
    `error` (a CALLERROR), `timeout`, `offline`.

    `recorded`: what each feature's recorder returned for a result, by feature."""

    status: str
    payload: dict[str, Any]
    recorded: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "payload": self.payload}


# What a feature keeps of a station's valid reply to a command; it returns what the sender
# may want of it (the reservation as stored, the station's desired configuration, ...).
Recorder = Callable[[Command, dict[str, Any]], Awaitable[Any]]
# action -> (feature, its recorder), in the features' order
Recorders = Mapping[str, Sequence[tuple[str, Recorder]]]


class CommandRouter:
    def __init__(self, redis: Redis, registry: ConnectionRegistry, replica_id: str,
                 recorders: Recorders | None = None) -> None:
        self.redis = redis
        self.registry = registry
        self.replica_id = replica_id
        self._recorders = recorders or {}
        self._serving: set[asyncio.Task[None]] = set()
        self._claims: Coalescer[str, object] = Coalescer(self._claim_all, MAX_CLAIMS)

    async def claim(self, station_id: str) -> None:
        try:
            await self._claims.get(station_id)
        except RedisError as exc:  # commands cannot reach it until it reconnects; charging goes on
            log.warning("station owner not recorded", station_id=station_id, error=repr(exc))

    async def _claim_all(self, station_ids: list[str]) -> list[object]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for station_id in station_ids:
                pipe.set(owner_key(station_id), self.replica_id)
            return list(await pipe.execute())

    async def release(self, station_id: str) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.eval(_RELEASE_SCRIPT, 1, owner_key(station_id), self.replica_id)

    async def send(self, station_id: str, action: str, payload: dict[str, Any], within_s: float, *,
                   source: str = "api") -> CommandOutcome:
        """Send a command wherever its station is connected; check the reply, record it."""
        command = Command(station_id, action, payload, source)
        outcome = await self._deliver(station_id, action, payload, within_s)
        if outcome.status != "result":
            return outcome
        try:
            schemas.validate(f"{action}Response", outcome.payload)
        except OcppError as exc:
            log.warning("station reply not recorded", station_id=station_id, action=action, reply=outcome.payload,
                        error=exc.description)
            return CommandOutcome("invalid", {"reply": outcome.payload, "errorDescription": exc.description,
                                              "errorDetails": exc.details})
        recorded = {feature: await record(command, outcome.payload)
                    for feature, record in self._recorders.get(action, ())}
        return CommandOutcome("result", outcome.payload, recorded)

    async def _deliver(self, station_id: str, action: str, payload: dict[str, Any],
                       within_s: float) -> CommandOutcome:
        if station_id in self.registry:
            return await self._send_local(station_id, action, payload, within_s)
        owner = await self.redis.get(owner_key(station_id))
        if owner is None or _text(owner) == self.replica_id or not await self.redis.exists(
                replica_key(_text(owner))):  # no one holds it, or a replica that is gone did
            return CommandOutcome("offline", {})
        request_id = uuid.uuid4().hex
        await self.redis.xadd(stream_key(_text(owner)), {
            "request_id": request_id, "station_id": station_id, "action": action,
            "payload": orjson.dumps(payload), "within_s": str(within_s),
        }, maxlen=10_000, approximate=True)
        reply = await self.redis.blpop([reply_key(request_id)], timeout=within_s + 1)
        if reply is None:
            return CommandOutcome("timeout", {})
        outcome = orjson.loads(reply[1])
        return CommandOutcome(outcome["status"], outcome["payload"])

    async def _send_local(self, station_id: str, action: str, payload: dict[str, Any],
                          within_s: float) -> CommandOutcome:
        connection = self.registry.get(station_id)
        if connection is None:
            return CommandOutcome("offline", {})
        try:
            reply = await connection.call(action, payload, within_s)
        except TimeoutError:
            return CommandOutcome("timeout", {})
        except ConnectionError:
            return CommandOutcome("offline", {})
        if isinstance(reply, CallResult):
            return CommandOutcome("result", reply.payload)
        return CommandOutcome("error", {"errorCode": reply.code, "errorDescription": reply.description,
                                        "errorDetails": reply.details})

    async def serve_forever(self) -> None:
        """Carry out the commands other replicas route to this one."""
        last_id: bytes | str = "$"
        while True:
            try:
                # a client without decode_responses: stream ids and fields are bytes
                batches = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], await self.redis.xread(
                    {stream_key(self.replica_id): last_id}, block=2000, count=100))
            except RedisError as exc:
                log.warning("command stream unavailable", error=repr(exc))
                await asyncio.sleep(1)
                continue
            for _, messages in batches:
                for message_id, fields in messages:
                    last_id = message_id
                    task = asyncio.create_task(self._serve(fields))
                    self._serving.add(task)
                    task.add_done_callback(self._serving.discard)

    async def _serve(self, fields: dict[bytes, bytes]) -> None:
        outcome = await self._send_local(
            fields[b"station_id"].decode(), fields[b"action"].decode(), orjson.loads(fields[b"payload"]),
            float(fields[b"within_s"]),
        )
        key = reply_key(fields[b"request_id"].decode())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, orjson.dumps(outcome.to_json()))
            pipe.expire(key, REPLY_TTL_S)
            await pipe.execute()

    async def refresh_forever(self) -> None:
        """Keep this replica, and so its claims, alive."""
        while True:
            try:
                await self.redis.set(replica_key(self.replica_id), b"1", ex=REPLICA_TTL_S)
            except RedisError as exc:
                log.warning("station owners not refreshed", error=repr(exc))
            await asyncio.sleep(REPLICA_REFRESH_S)

    async def retire(self) -> None:
        """Shutdown: this replica's claims stop counting at once."""
        with contextlib.suppress(RedisError):
            await self.redis.delete(replica_key(self.replica_id))


COMMANDS = web.AppKey("commands", CommandRouter)


def commands_context(recorders: Recorders) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that makes the app's command router, with the features' recorders."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        # Blocking reads (XREAD, BLPOP) need a client without a socket timeout.
        redis = Redis.from_url(app[SETTINGS].redis_url, socket_connect_timeout=2)
        router = CommandRouter(redis, app[REGISTRY], uuid.uuid4().hex[:12], recorders)
        app[COMMANDS] = router
        with untraced():  # a blocking read every two seconds and a refresh are no station's trace
            tasks = [asyncio.create_task(router.serve_forever()), asyncio.create_task(router.refresh_forever())]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await router.retire()
        await redis.aclose()

    return context
