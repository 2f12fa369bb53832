"""Many items written in one statement or transaction, and when that fails, each alone, so
that one bad item fails only itself: the gateway's group commits, a relay round's session
events, a round's bills."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def together_or_alone(
    items: Sequence[T],
    write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
    settle: Callable[[T, R | Exception], None],
    *,
    chain: Callable[[T], Hashable] | None = None,
    stops_chain: Callable[[T, Exception], bool] = lambda item, error: False,
) -> None:
    """`write` answers its items with one result each, in order; `settle` is told each item's
    result, or the error it failed with, as soon as it is known.

    When the batch fails, each item is written alone. With `chain` (a station's events, in
    order), once an item fails so that `stops_chain(item, error)` says it holds up the rest of
    its chain (asked after the item is settled), those are neither written nor settled: they
    wait for the next attempt, behind the one that failed."""
    try:
        results = await write(items)
    except Exception as batch_error:
        if len(items) == 1:  # alone already: the error is its own
            settle(items[0], batch_error)
            return
        stopped: set[Hashable] = set()
        for item in items:
            key = chain(item) if chain is not None else None
            if key is not None and key in stopped:
                continue
            try:
                [result] = await write([item])
            except Exception as error:
                settle(item, error)
                if key is not None and stops_chain(item, error):
                    stopped.add(key)
                continue
            settle(item, result)
        return
    for item, result in zip(items, results, strict=True):
        settle(item, result)
