"""The in-memory ledger: pacing, priorities, GHL's headers, 429 penalties, the daily budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.ghl import (
    InMemoryRateLimiter,
    Permit,
    Priority,
    RateLimited,
    RateLimitHeaders,
    RequestClass,
    charged_to,
)

LOC = "loc1"


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t - start <= window))
    return best


async def test_slots_never_exceed_the_budget_in_any_window() -> None:
    limiter = InMemoryRateLimiter(requests=10, interval=0.2, margin=0.0)
    permits = await asyncio.gather(*(limiter.acquire(LOC, Priority.POLL) for _ in range(35)))
    slots = [p.slot_at for p in permits]
    assert _max_in_window(slots, 0.2) <= 10
    assert sorted(p.seq for p in permits) == list(range(1, 36))
    await limiter.aclose()


async def test_pacing_uses_nearly_the_whole_budget() -> None:
    limiter = InMemoryRateLimiter(requests=100, interval=1.0, margin=0.01)
    permits = await asyncio.gather(*(limiter.acquire(LOC, Priority.WRITE) for _ in range(100)))
    span = max(p.slot_at for p in permits) - min(p.slot_at for p in permits)
    # 100 slots over ~1 s: 98-99% of the budget, never more than 100 per second.
    assert 0.98 < span < 1.03
    await limiter.aclose()


async def test_the_background_leaves_its_share_of_slots_free() -> None:
    limiter = InMemoryRateLimiter(requests=100, interval=1.0, margin=0.01, background_share=0.9)
    permits = await asyncio.gather(*(limiter.acquire(LOC, Priority.BACKFILL) for _ in range(100)))
    slots = sorted(p.slot_at for p in permits)
    # Spaced 1.01 / 99 / 0.9 apart: 99 gaps take ~1.12 s, a tenth of the budget left free.
    assert 1.10 < slots[-1] - slots[0] < 1.16
    await limiter.aclose()


async def test_a_write_never_queues_behind_slots_the_background_booked() -> None:
    limiter = InMemoryRateLimiter(requests=51, interval=1.0, margin=0.0)
    flood = [asyncio.create_task(limiter.acquire(LOC, Priority.POLL)) for _ in range(60)]
    flood += [asyncio.create_task(limiter.acquire(LOC, Priority.BACKFILL)) for _ in range(60)]
    await asyncio.sleep(0.3)  # the background is now saturating the budget
    delays = []
    for _ in range(5):
        asked = time.time()
        write = await limiter.acquire(LOC, Priority.WRITE)
        delays.append(write.slot_at - asked)
    # In ledger time: at most the poll horizon (0.2 s) of booked slots, plus one spacing.
    assert max(delays) <= 0.2 + 0.02 + 1e-6
    for task in flood:
        task.cancel()
    await asyncio.gather(*flood, return_exceptions=True)
    await limiter.aclose()


async def test_requests_are_counted_by_class() -> None:
    limiter = InMemoryRateLimiter(requests=1000, interval=1.0)
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


async def test_callers_are_served_by_priority() -> None:
    zero = dict.fromkeys(Priority, 0.0)
    limiter = InMemoryRateLimiter(requests=3, interval=0.1, margin=0.0, horizons=zero)
    await limiter.acquire(LOC, Priority.POLL)  # the ledger is now busy for one slot
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


async def test_a_write_is_not_starved_by_a_backfill_flood() -> None:
    horizons = {
        Priority.WRITE: 1.0,
        Priority.WEBHOOK_ENRICHMENT: 0.2,
        Priority.POLL: 0.1,
        Priority.BACKFILL: 0.05,
    }
    limiter = InMemoryRateLimiter(requests=11, interval=0.1, margin=0.0, horizons=horizons)
    backfill = [asyncio.create_task(limiter.acquire(LOC, Priority.BACKFILL)) for _ in range(30)]
    await asyncio.sleep(0.02)
    asked = time.time()
    write = await limiter.acquire(LOC, Priority.WRITE)
    done = await asyncio.gather(*backfill)
    later = [p for p in done if p.seq > write.seq]
    # Backfill books at most its horizon (0.05 s, ~6 slots) ahead, and the in-process queue
    # puts the write ahead of every backfill still waiting.
    assert len(later) >= 15
    assert write.slot_at - asked <= 0.05 + 0.011
    await limiter.aclose()


async def test_ghl_saying_fewer_remain_slows_the_pacing() -> None:
    limiter = InMemoryRateLimiter(requests=11, interval=0.1, margin=0.0)
    first = await limiter.acquire(LOC, Priority.WRITE)
    normal = (await limiter.acquire(LOC, Priority.WRITE)).slot_at - first.slot_at
    # We sent 2 in the window; GHL says only 1 of 11 remains: 8 were someone else's.
    await limiter.observe(first, RateLimitHeaders(max=11, remaining=1, interval=0.1))
    a = await limiter.acquire(LOC, Priority.WRITE)
    b = await limiter.acquire(LOC, Priority.WRITE)
    assert b.slot_at - a.slot_at > 3 * normal
    await limiter.aclose()


async def test_a_lower_max_from_ghl_is_believed() -> None:
    limiter = InMemoryRateLimiter(requests=100, interval=1.0, margin=0.0)
    permit = await limiter.acquire(LOC, Priority.WRITE)
    await limiter.observe(permit, RateLimitHeaders(max=11, remaining=10, interval=1.0))
    a = await limiter.acquire(LOC, Priority.WRITE)
    b = await limiter.acquire(LOC, Priority.WRITE)
    assert b.slot_at - a.slot_at == pytest.approx(0.1)
    await limiter.aclose()


async def test_a_429_penalty_delays_the_next_slot() -> None:
    limiter = InMemoryRateLimiter(requests=100, interval=1.0)
    await limiter.acquire(LOC, Priority.WRITE)
    await limiter.penalize(LOC, 0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await limiter.acquire(LOC, Priority.WRITE)
    assert loop.time() - started >= 0.04
    await limiter.aclose()


async def test_the_daily_budget_ends_in_rate_limited() -> None:
    limiter = InMemoryRateLimiter(requests=100, interval=1.0, daily=2, max_wait=5.0)
    await limiter.acquire(LOC, Priority.WRITE)
    await limiter.acquire(LOC, Priority.WRITE)
    with pytest.raises(RateLimited) as info:
        await limiter.acquire(LOC, Priority.WRITE)
    assert info.value.retry_after > 0
    await limiter.aclose()


async def test_ghl_daily_remaining_is_believed() -> None:
    limiter = InMemoryRateLimiter(requests=100, interval=1.0, daily=1000, max_wait=5.0)
    permit = await limiter.acquire(LOC, Priority.WRITE)
    await limiter.observe(permit, RateLimitHeaders(daily_limit=1000, daily_remaining=0))
    with pytest.raises(RateLimited):
        await limiter.acquire(LOC, Priority.WRITE)
    await limiter.aclose()


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


async def test_locations_have_separate_budgets() -> None:
    limiter = InMemoryRateLimiter(requests=2, interval=10.0, margin=0.0)
    a: Permit = await limiter.acquire("a", Priority.POLL)
    b: Permit = await limiter.acquire("b", Priority.POLL)
    assert a.seq == b.seq == 1
    await limiter.aclose()
