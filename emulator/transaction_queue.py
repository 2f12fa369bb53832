"""Transaction messages (StartTransaction, StopTransaction and a transaction's MeterValues) are
delivered at least once and in order, whatever happens to the connection, as OCPP 1.6 asks of
a station: they wait in this queue while the station is offline, and one the CSMS left
unanswered, or answered with CALLERROR InternalError ("retry later"), is sent again.

The queue is one FIFO per station and one delivery task sends its head, so a transaction's
MeterValues can never overtake its StartTransaction, nor its StopTransaction its MeterValues.
Whoever queued a message awaits `QueuedMessage.reply`; other CALLERRORs are a refusal and end
delivery of that message (the reply raises the CallError).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import CallTimeout, StationOffline
from .protocol import CallError, Payload

# The CSMS could not act on the message now (e.g. its database is down); the message is fine.
RETRY_LATER_CODES: Final = frozenset({"InternalError"})


def _retrieve_outcome(future: asyncio.Future[Any]) -> None:
    # A reply whose sender stopped waiting must not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()


@dataclass(eq=False, slots=True)
class QueuedMessage:
    action: str
    payload: Payload
    reply: asyncio.Future[Payload]
    # Failed deliveries (no reply in time, or retry-later); waiting offline is not one.
    failed_attempts: int = 0
    # Set once the message has gone out: from then on the CSMS may have acted on it.
    sent: bool = field(default=False)

    @property
    def description(self) -> str:
        """`MeterValues (transaction 12)`, for people watching the queue."""
        transaction_id = self.payload.get("transactionId")
        return f"{self.action} (transaction {transaction_id})" if transaction_id is not None else self.action


Sender = Callable[[str, Payload], Awaitable[Payload]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # TransactionMessageAttempts: deliveries tried before a message is given up.
    attempts: int
    # TransactionMessageRetryInterval: the wait after the n-th failure is n times this.
    interval_seconds: float


class TransactionQueue:
    def __init__(self) -> None:
        self._messages: deque[QueuedMessage] = deque()
        self._not_empty = asyncio.Event()

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[QueuedMessage]:
        return iter(tuple(self._messages))

    def put(self, action: str, payload: Payload) -> QueuedMessage:
        reply: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
        reply.add_done_callback(_retrieve_outcome)
        message = QueuedMessage(action, payload, reply)
        self._messages.append(message)
        self._not_empty.set()
        return message

    def withdraw(self, message: QueuedMessage) -> bool:
        """Take back a message that has not gone out yet; False once the CSMS may have it."""
        if message.sent or message not in self._messages:
            return False
        self._messages.remove(message)
        self._finish(message, StationOffline(f"{message.action} was withdrawn before it was sent"))
        return True

    def fail_all(self, error: BaseException) -> None:
        """The station closes for good: nothing queued will be sent."""
        while self._messages:
            self._finish(self._messages.popleft(), error)

    async def deliver(
        self, send: Sender, wait_online: Callable[[], Awaitable[None]], policy: Callable[[], RetryPolicy]
    ) -> None:
        """Send queued messages in order, for as long as the station lives (cancel to stop)."""
        while True:
            if not self._messages:
                self._not_empty.clear()
                await self._not_empty.wait()
            await wait_online()
            if not self._messages:
                continue  # withdrawn while the station was offline
            message = self._messages[0]
            message.sent = True
            try:
                reply = await send(message.action, message.payload)
            except StationOffline:
                continue  # sent again once the station is back online
            except (CallTimeout, CallError) as exc:
                if isinstance(exc, CallError) and exc.code not in RETRY_LATER_CODES:
                    self._settle(message, exc)
                    continue
                message.failed_attempts += 1
                retry = policy()
                if message.failed_attempts >= retry.attempts:
                    self._settle(message, exc)
                    continue
                await asyncio.sleep(retry.interval_seconds * message.failed_attempts)
                continue
            self._settle(message, reply)

    def _settle(self, message: QueuedMessage, outcome: Payload | BaseException) -> None:
        if self._messages and self._messages[0] is message:
            self._messages.popleft()
        self._finish(message, outcome)

    @staticmethod
    def _finish(message: QueuedMessage, outcome: Payload | BaseException) -> None:
        if message.reply.done():
            return
        if isinstance(outcome, BaseException):
            message.reply.set_exception(outcome)
        else:
            message.reply.set_result(outcome)
