"""The shared rate limiter on the real PostgreSQL: several limiters, one budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from services.ghl import GhlSettings, Priority, RateLimitHeaders, RequestClass, charged_to
from services.ghl._ratelimit_pg import PostgresRateLimiter

pytestmark = pytest.mark.integration

PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


def _settings(**values: object) -> GhlSettings:
    return GhlSettings.model_validate(values)


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    j = 0
    best = 0
    for i in range(len(times)):
        while times[i] - times[j] > window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_limiters_in_many_processes_share_one_budget(new_pool: PoolFactory) -> None:
    settings = _settings(rate_limit_requests=100, rate_limit_interval=1.0)
    limiters = [PostgresRateLimiter(await new_pool(), settings) for _ in range(5)]
    priorities = list(Priority)
    started = time.monotonic()
    permits = await asyncio.gather(
        *(limiters[i % 5].acquire("loc-shared", priorities[i % 4]) for i in range(250))
    )
    elapsed = time.monotonic() - started
    assert sorted(p.seq for p in permits) == list(range(1, 251))
    assert _max_in_window([p.slot_at for p in permits], 1.0) <= 100
    # Paced at ~99 per second: 250 requests need about 2.5 s, not less.
    assert 2.3 < elapsed < 4.0
    for limiter in limiters:
        await limiter.aclose()


async def test_a_write_elsewhere_never_queues_behind_background_bookings(
    new_pool: PoolFactory,
) -> None:
    settings = _settings(rate_limit_requests=21, rate_limit_interval=1.0)
    poller = PostgresRateLimiter(await new_pool(), settings)
    writer_pool = await new_pool()
    writer = PostgresRateLimiter(writer_pool, settings)
    flood = [asyncio.create_task(poller.acquire("loc-p", Priority.POLL)) for _ in range(40)]
    await asyncio.sleep(0.3)
    waits = []
    for _ in range(3):
        asked = await writer_pool.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
        permit = await writer.acquire("loc-p", Priority.WRITE)
        waits.append(permit.slot_at - asked)
    # In the database's clock: polls book at most 0.2 s ahead (they used to book 1 s), so the
    # write's slot comes within that plus a spacing (0.05 s), with slack for a loaded machine.
    assert max(waits) < 0.45
    for task in flood:
        task.cancel()
    await asyncio.gather(*flood, return_exceptions=True)
    await poller.aclose()
    await writer.aclose()


async def test_bookings_are_counted_by_request_class(new_pool: PoolFactory) -> None:
    settings = _settings(rate_limit_requests=1000, rate_limit_interval=1.0)
    pool = await new_pool()
    limiter = PostgresRateLimiter(pool, settings)
    await asyncio.gather(*(limiter.acquire("loc-c", Priority.WRITE) for _ in range(5)))
    with charged_to(RequestClass.CHILDREN_SWEEP):
        await asyncio.gather(*(limiter.acquire("loc-c", Priority.POLL) for _ in range(7)))
    await limiter.acquire("loc-c", Priority.BACKFILL)
    rows = await pool.fetch(
        "SELECT request_class, requests FROM ghl_request_counts WHERE location_id = 'loc-c'"
    )
    assert {r["request_class"]: r["requests"] for r in rows} == {
        "write": 5,
        "children_sweep": 7,
        "backfill": 1,
    }
    await limiter.aclose()


async def test_bookings_of_many_locations_share_statements(new_pool: PoolFactory) -> None:
    settings = _settings(rate_limit_requests=100, rate_limit_interval=10.0)
    pool = await new_pool()
    limiter = PostgresRateLimiter(pool, settings)
    locations = [f"loc-m{i:03d}" for i in range(200)]
    permits = await asyncio.gather(*(limiter.acquire(loc, Priority.POLL) for loc in locations))
    assert sorted(p.location_id for p in permits) == locations
    assert all(p.seq == 1 for p in permits)
    # One statement (one commit) books for every location waiting at the same time.
    assert limiter.statements < len(locations) / 4
    booked = await pool.fetchval(
        "SELECT sum(requests) FROM ghl_request_counts WHERE location_id LIKE 'loc-m%'"
    )
    assert booked == len(locations)
    await limiter.aclose()


async def test_ghl_headers_and_429_reach_every_process(new_pool: PoolFactory) -> None:
    settings = _settings(rate_limit_requests=100, rate_limit_interval=1.0)
    a = PostgresRateLimiter(await new_pool(), settings)
    b = PostgresRateLimiter(await new_pool(), settings)
    permit = await a.acquire("loc-h", Priority.WRITE)
    await a.observe(permit, RateLimitHeaders(max=11, remaining=10, interval=1.0))
    first = await b.acquire("loc-h", Priority.WRITE)
    second = await b.acquire("loc-h", Priority.WRITE)
    assert second.slot_at - first.slot_at == pytest.approx(1.01 / 10, rel=0.01)
    await a.penalize("loc-h", 0.3)
    asked = time.monotonic()
    await b.acquire("loc-h", Priority.WRITE)
    assert time.monotonic() - asked >= 0.25
    await a.aclose()
    await b.aclose()
