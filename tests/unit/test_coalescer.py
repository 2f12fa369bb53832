"""Look-ups asked while a request is in flight share the next request."""

from __future__ import annotations

import asyncio

import pytest

from chargeplane.services.ocpp.core.coalescer import Coalescer


class Doubling:
    """A fetch that answers each key with twice itself after a round trip, and keeps
    every batch it was asked."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_with = fail_with

    async def __call__(self, keys: list[int]) -> list[int]:
        self.batches.append(keys)
        await asyncio.sleep(0.01)
        if self.fail_with is not None:
            raise self.fail_with
        return [2 * key for key in keys]


async def test_a_lone_look_up_is_one_request() -> None:
    fetch = Doubling()
    assert await Coalescer(fetch, 10).get(21) == 42
    assert fetch.batches == [[21]]


async def test_look_ups_asked_together_share_requests_and_get_their_own_answers() -> None:
    fetch = Doubling()
    coalescer = Coalescer(fetch, max_batch=40)
    answers = await asyncio.gather(*(coalescer.get(key) for key in range(100)))
    assert answers == [2 * key for key in range(100)]
    assert [len(batch) for batch in fetch.batches] == [40, 40, 20]
    assert [key for batch in fetch.batches for key in batch] == list(range(100))


async def test_look_ups_asked_during_a_request_go_in_the_next_one() -> None:
    fetch = Doubling()
    coalescer = Coalescer(fetch, max_batch=100)
    first = asyncio.create_task(coalescer.get(1))
    await asyncio.sleep(0.001)  # the first request is in flight
    later = [asyncio.create_task(coalescer.get(key)) for key in (2, 3, 4)]
    assert await asyncio.gather(first, *later) == [2, 4, 6, 8]
    assert fetch.batches == [[1], [2, 3, 4]]


async def test_a_failed_request_fails_each_of_its_look_ups_and_the_next_one_is_asked_again() -> None:
    fetch = Doubling(fail_with=ConnectionError("auth is down"))
    coalescer = Coalescer(fetch, max_batch=10)
    outcomes = await asyncio.gather(*(coalescer.get(key) for key in range(3)), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    fetch.fail_with = None
    assert await coalescer.get(5) == 10
    assert fetch.batches == [[0, 1, 2], [5]]


async def test_an_answer_count_that_does_not_match_fails_the_batch() -> None:
    async def short(keys: list[int]) -> list[int]:
        return keys[:-1]

    coalescer = Coalescer(short, 10)
    with pytest.raises(ValueError, match="2 answers to 3 look-ups"):
        await asyncio.gather(*(coalescer.get(key) for key in range(3)))


async def test_an_asker_that_gives_up_does_not_hold_up_the_others() -> None:
    fetch = Doubling()
    coalescer = Coalescer(fetch, max_batch=10)
    impatient = asyncio.create_task(coalescer.get(1))
    patient = asyncio.create_task(coalescer.get(2))
    await asyncio.sleep(0.001)
    impatient.cancel()
    assert await patient == 4
    assert impatient.cancelled()
