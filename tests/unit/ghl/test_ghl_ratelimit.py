"""The limiter's dispatcher on a fake clock: priorities, classes, waiting, refusing, headers.

The ledger's arithmetic (pacing, horizons, background share, the day, GHL's headers, 429s) is
the backend contract in `tests/integration/test_contract_ratelimit.py`, run against the
in-memory and the PostgreSQL ledger alike; these cases are the per-process queue in front of
either. The clock is fake and `sleep` records instead of waiting, so no case takes real time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.ghl import (
    InMemoryRateLimiter,
    Priority,
    RateLimited,
    RateLimitHeaders,
    RequestClass,
    charged_to,
)
from tests.factories.clock import FakeClock

LOC = "loc1"


class Sleeps:
    """A `sleep` that returns at once and keeps what it was asked to wait."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def _limiter(clock: FakeClock, sleeps: Sleeps, **budget: Any) -> InMemoryRateLimiter:
    return InMemoryRateLimiter(clock=clock, sleep=sleeps, **budget)


async def test_callers_are_served_by_priority() -> None:
    clock, sleeps = FakeClock(), Sleeps()
    limiter = _limiter(clock, sleeps, requests=100, interval=1.0)
    order = [
        Priority.BACKFILL,
        Priority.POLL,
        Priority.WRITE,
        Priority.BACKFILL,
        Priority.WEBHOOK_ENRICHMENT,
        Priority.WRITE,
    ]
    permits = await asyncio.gather(*(limiter.acquire(LOC, p) for p in order))
    served = [p.priority for p in sorted(permits, key=lambda p: p.seq)]
    assert served == sorted(order)
    await limiter.aclose()


async def test_a_caller_sleeps_until_its_slot() -> None:
    clock, sleeps = FakeClock(), Sleeps()
    limiter = _limiter(clock, sleeps, requests=11, interval=1.0, margin=0.0)
    permits = await asyncio.gather(*(limiter.acquire(LOC, Priority.WRITE) for _ in range(3)))
    assert [p.slot_at - clock.now for p in permits] == pytest.approx([0.0, 0.1, 0.2])
    # The first slot is now (no sleep); the others wait their distance from it.
    assert sorted(sleeps.asked) == pytest.approx([0.1, 0.2], abs=0.01)
    await limiter.aclose()


async def test_requests_are_counted_by_class() -> None:
    clock, sleeps = FakeClock(), Sleeps()
    limiter = _limiter(clock, sleeps, requests=1000, interval=1.0)
    await limiter.acquire(LOC, Priority.WRITE)
    await limiter.acquire(LOC, Priority.POLL)
    with charged_to(RequestClass.TASK_SWEEP):
        await asyncio.gather(*(limiter.acquire(LOC, Priority.POLL) for _ in range(3)))
        await asyncio.create_task(limiter.acquire(LOC, Priority.POLL))  # tasks inherit it
    counts = {cls: n for (loc, _, cls), n in limiter.counts.items() if loc == LOC}
    assert counts == {
        RequestClass.WRITE: 1,
        RequestClass.INCREMENTAL_POLL: 1,
        RequestClass.TASK_SWEEP: 4,
    }
    await limiter.aclose()


async def test_a_slot_further_off_than_max_wait_is_refused() -> None:
    clock, sleeps = FakeClock(), Sleeps()
    limiter = _limiter(clock, sleeps, requests=100, interval=1.0, daily=2, max_wait=5.0)
    await limiter.acquire(LOC, Priority.WRITE)
    await limiter.acquire(LOC, Priority.WRITE)
    with pytest.raises(RateLimited) as info:
        await limiter.acquire(LOC, Priority.WRITE)
    assert info.value.retry_after > 5.0  # the next UTC day
    await limiter.aclose()


async def test_a_429_penalty_is_recorded_and_slept() -> None:
    clock, sleeps = FakeClock(), Sleeps()
    limiter = _limiter(clock, sleeps, requests=100, interval=1.0)
    await limiter.penalize(LOC, 3.0)
    permit = await limiter.acquire(LOC, Priority.WRITE)
    assert permit.slot_at == pytest.approx(clock.now + 3.0)
    assert sleeps.asked == [pytest.approx(3.0, abs=0.01)]
    assert limiter.penalties == [(LOC, 3.0)]
    await limiter.aclose()


async def test_a_closed_limiter_refuses() -> None:
    limiter = _limiter(FakeClock(), Sleeps())
    await limiter.aclose()
    with pytest.raises(RateLimited):
        await limiter.acquire(LOC, Priority.WRITE)


def test_headers_are_parsed() -> None:
    headers = {
        "x-ratelimit-max": "100",
        "x-ratelimit-remaining": "42",
        "x-ratelimit-interval-milliseconds": "10000",
        "x-ratelimit-limit-daily": "200000",
        "x-ratelimit-daily-remaining": "199000",
    }
    assert RateLimitHeaders.parse(headers) == RateLimitHeaders(100, 42, 10.0, 200_000, 199_000)
    assert RateLimitHeaders.parse({}) is None
    assert RateLimitHeaders.parse({"x-ratelimit-max": "lots"}) is None
