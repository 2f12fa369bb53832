"""Write the batch, and when it fails each item alone (common/batching.py)."""

from __future__ import annotations

from collections.abc import Sequence

from chargeplane.common.batching import together_or_alone


class Writer:
    """Doubles what it writes; refuses a batch holding a bad item, and the bad item alone."""

    def __init__(self, bad: set[int]) -> None:
        self.bad = bad
        self.calls: list[list[int]] = []

    async def write(self, items: Sequence[int]) -> list[int]:
        self.calls.append(list(items))
        if self.bad & set(items):
            raise ValueError(f"bad: {sorted(self.bad & set(items))}")
        return [item * 2 for item in items]


async def test_a_good_batch_is_one_write() -> None:
    writer, settled = Writer(set()), {}
    await together_or_alone([1, 2, 3], writer.write, settled.__setitem__)
    assert (writer.calls, settled) == ([[1, 2, 3]], {1: 2, 2: 4, 3: 6})


async def test_one_bad_item_fails_alone() -> None:
    writer, settled = Writer({2}), {}
    await together_or_alone([1, 2, 3], writer.write, settled.__setitem__)
    assert writer.calls == [[1, 2, 3], [1], [2], [3]]
    assert (settled[1], settled[3]) == (2, 6) and isinstance(settled[2], ValueError)


async def test_a_single_item_is_not_written_twice() -> None:
    writer, settled = Writer({7}), {}
    await together_or_alone([7], writer.write, settled.__setitem__)
    assert writer.calls == [[7]] and isinstance(settled[7], ValueError)


async def test_a_failure_that_holds_up_its_chain_leaves_the_rest_of_it_unsettled() -> None:
    """Odd and even numbers are two chains (two stations' events, in order)."""
    writer, settled = Writer({3}), {}
    await together_or_alone([1, 2, 3, 4, 5, 6], writer.write, settled.__setitem__, chain=lambda item: item % 2,
                            stops_chain=lambda item, error: True)
    assert writer.calls == [[1, 2, 3, 4, 5, 6], [1], [2], [3], [4], [6]]
    assert set(settled) == {1, 2, 3, 4, 6}  # 5 waits behind 3
