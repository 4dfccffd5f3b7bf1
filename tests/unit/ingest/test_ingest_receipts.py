"""The receipt store's batching without a database: concurrent submissions share a flush,
each caller gets its own result, and a failed flush fails exactly its own callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.webhooks._receipts import _Batcher


async def test_concurrent_submissions_share_one_flush_in_order() -> None:
    flushes: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        flushes.append(list(items))
        await asyncio.sleep(0)
        return [i * 10 for i in items]

    batcher: _Batcher[int, int] = _Batcher(flush)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert flushes == [[0, 1, 2, 3, 4]]


async def test_submissions_during_a_flush_go_in_the_next_one() -> None:
    gate = asyncio.Event()
    flushes: list[list[str]] = []

    async def flush(items: Sequence[str]) -> list[str]:
        flushes.append(list(items))
        if len(flushes) == 1:
            await gate.wait()
        return [s.upper() for s in items]

    batcher: _Batcher[str, str] = _Batcher(flush)
    first = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0)
    later = [asyncio.create_task(batcher.submit(s)) for s in "bc"]
    await asyncio.sleep(0)
    gate.set()
    assert [await first, *[await t for t in later]] == ["A", "B", "C"]
    assert flushes == [["a"], ["b", "c"]]


async def test_a_failed_flush_fails_its_callers_and_the_next_one_runs() -> None:
    calls = 0

    async def flush(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("connection lost")
        return list(items)

    batcher: _Batcher[int, int] = _Batcher(flush)
    failed = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(f, OSError) for f in failed)
    assert await batcher.submit(3) == 3


async def test_a_caller_that_gives_up_does_not_break_the_batch() -> None:
    gate = asyncio.Event()

    async def flush(items: Sequence[int]) -> list[int]:
        await gate.wait()
        return list(items)

    batcher: _Batcher[int, int] = _Batcher(flush)
    impatient = asyncio.create_task(batcher.submit(1))
    patient = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()
    assert await patient == 2
    with pytest.raises(asyncio.CancelledError):
        await impatient
