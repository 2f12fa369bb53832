"""The gateway's limits on what one station may do (services/ocpp/limits.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from chargeplane.services.ocpp.core.limits import (
    AuthThrottle,
    HandshakeSlots,
    MessageRate,
    TooManyHandshakes,
)


def test_a_burst_passes_then_messages_wait_their_turn() -> None:
    rate = MessageRate(rate=100, burst=10)
    assert [rate.delay() for _ in range(10)] == [0.0] * 10
    waits = [rate.delay() for _ in range(5)]
    assert waits == sorted(waits) and 0.045 < waits[-1] < 0.06  # the 5th beyond the burst: 50 ms


def test_a_flood_has_ended_once_half_the_burst_is_back() -> None:
    rate = MessageRate(rate=1000, burst=10)
    for _ in range(12):
        rate.delay()
    assert not rate.recovered
    time.sleep(0.01)  # 10 tokens' worth: from -2 back to at least 5
    assert rate.delay() == 0.0 and rate.recovered


async def test_handshake_slots_refuse_beyond_the_limit_and_free_on_the_way_out() -> None:
    slots = HandshakeSlots(limit=1)
    async with slots.slot():
        with pytest.raises(TooManyHandshakes):
            async with slots.slot():
                pass
    async with slots.slot():
        assert slots.pending == 1
    assert slots.pending == 0


async def test_handshakes_beyond_the_limit_wait_their_turn_in_a_bounded_queue() -> None:
    slots = HandshakeSlots(limit=1, queue=2, wait_s=5)
    order: list[str] = []
    release_first = asyncio.Event()

    async def handshake(name: str, hold: asyncio.Event | None = None) -> None:
        async with slots.slot():
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(handshake("first", release_first))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(handshake(name)) for name in ("second", "third")]
    await asyncio.sleep(0)
    with pytest.raises(TooManyHandshakes):  # the queue is full
        async with slots.slot():
            pass
    release_first.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "second", "third"]  # in arrival order
    assert slots.pending == 0


async def test_a_handshake_that_waits_too_long_is_refused_and_leaves_no_slot_behind() -> None:
    slots = HandshakeSlots(limit=1, queue=5, wait_s=0.05)
    async with slots.slot():
        with pytest.raises(TooManyHandshakes, match="within"):
            async with slots.slot():
                pass
        cancelled = asyncio.create_task(slots.slot().__aenter__())
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert slots.pending == 0
    async with slots.slot():
        assert slots.pending == 1


def test_wrong_guesses_lock_one_address_out_of_one_station_for_the_window() -> None:
    throttle = AuthThrottle(max_failures=2, window_s=0.2)
    guesser, other_peer, other_station = ("CP-1", "10.0.0.1"), ("CP-1", "10.0.0.2"), ("CP-2", "10.0.0.1")
    throttle.failed(guesser)
    assert throttle.retry_after(guesser) == 0
    throttle.failed(guesser)
    assert 0 < throttle.retry_after(guesser) <= 0.2
    assert throttle.retry_after(other_peer) == throttle.retry_after(other_station) == 0
    time.sleep(0.21)
    assert throttle.retry_after(guesser) == 0


def test_a_success_forgets_the_failures_and_memory_stays_bounded() -> None:
    throttle = AuthThrottle(max_failures=1, window_s=60, max_keys=100)
    throttle.failed(("CP-1", "a"))
    throttle.succeeded(("CP-1", "a"))
    assert throttle.retry_after(("CP-1", "a")) == 0
    for n in range(1000):
        throttle.failed((f"CP-{n}", "a"))
    assert throttle.retry_after(("CP-0", "a")) == 0 and throttle.retry_after(("CP-999", "a")) > 0
