"""The shared rate limiter on the real PostgreSQL: several limiters, one budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from services.ghl import GhlSettings, Priority, RateLimitHeaders
from services.ghl._ratelimit_pg import PostgresRateLimiter

pytestmark = pytest.mark.integration

PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


@pytest.fixture
async def new_pool(test_settings: object, pg_schema: str) -> AsyncIterator[PoolFactory]:
    """Separate pools, as separate processes would have."""
    pools: list[asyncpg.Pool] = []

    async def make() -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            test_settings.database_url,  # type: ignore[attr-defined]
            min_size=1,
            max_size=4,
            server_settings={"search_path": pg_schema},
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


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


async def test_a_write_elsewhere_waits_at_most_the_backfill_horizon(
    new_pool: PoolFactory,
) -> None:
    settings = _settings(rate_limit_requests=21, rate_limit_interval=1.0)
    backfiller = PostgresRateLimiter(await new_pool(), settings)
    writer = PostgresRateLimiter(await new_pool(), settings)
    flood = [asyncio.create_task(backfiller.acquire("loc-p", Priority.BACKFILL)) for _ in range(40)]
    await asyncio.sleep(0.3)
    asked = time.monotonic()
    await writer.acquire("loc-p", Priority.WRITE)
    waited = time.monotonic() - asked
    # Backfill books at most 0.5 s ahead; the write's slot comes right after those.
    assert waited < 0.5 + 0.1 + 0.1
    for task in flood:
        task.cancel()
    await asyncio.gather(*flood, return_exceptions=True)
    await backfiller.aclose()
    await writer.aclose()


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
