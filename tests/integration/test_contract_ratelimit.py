"""The rate limiter's contract, run against both ledgers on the same fake clock.

The booking arithmetic exists twice: `InMemoryRateLimiter._book` in Python and
`ghl_rate_book_v2` / `ghl_rate_observe` in SQL (migrations 0011 and 0040), which production
runs. Every case below runs against each, through the method the dispatcher calls (`_book`),
with time read from a fake clock the test moves: the in-memory ledger takes it as `clock=`,
the SQL one reads it from a `clock_timestamp()` defined in the test's schema, which shadows
PostgreSQL's own on the connection's search_path. No case waits for real time.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from services.ghl import (
    InMemoryRateLimiter,
    Permit,
    Priority,
    RateLimitHeaders,
    RequestClass,
)
from services.ghl._ratelimit import BACKGROUND, DEFAULT_HORIZONS, Booking, current_class
from services.ghl._ratelimit_pg import PostgresRateLimiter
from services.ghl.settings import GhlSettings
from tests.factories.clock import FakeClock

pytestmark = pytest.mark.integration

LOC = "loc-contract"
DAY = 86_400.0
START = 1_000_000.0  # 11 days and 49,600 s after the epoch: 36,800 s before a UTC midnight


@dataclass
class Ledger:
    """One backend under test: a limiter factory, its clock and its per-class counts."""

    kind: str
    clock: FakeClock
    pool: asyncpg.Pool | None = None
    made: list[Any] = field(default_factory=list)

    def limiter(self, **budget: Any) -> InMemoryRateLimiter | PostgresRateLimiter:
        budget = {"requests": 100, "interval": 10.0, "daily": 200_000, "margin": 0.01} | budget
        made: InMemoryRateLimiter | PostgresRateLimiter
        if self.pool is None:
            made = InMemoryRateLimiter(clock=self.clock, **budget)
        else:
            names = {"requests": "rate_limit_requests", "interval": "rate_limit_interval",
                     "daily": "rate_limit_daily", "margin": "rate_limit_margin",
                     "background_share": "rate_limit_background_share"}  # fmt: skip
            settings = GhlSettings.model_validate({names[k]: v for k, v in budget.items()})
            made = PostgresRateLimiter(self.pool, settings)
        self.made.append(made)
        return made

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.pool is not None:
            await self.pool.execute("UPDATE fake_clock SET t = $1", self.clock.now)

    async def counts(self, limiter: Any, location_id: str) -> dict[str, int]:
        if self.pool is None:
            return {
                cls.value: n for (loc, _, cls), n in limiter.counts.items() if loc == location_id
            }
        rows = await self.pool.fetch(
            "SELECT request_class, requests FROM ghl_request_counts WHERE location_id = $1",
            location_id,
        )
        return {r["request_class"]: r["requests"] for r in rows}


# Run before each test: the module's schema is shared, each test starts from no ledger.
_FRESH_LEDGERS_SQL = """
TRUNCATE ghl_rate_limits, ghl_request_counts;
CREATE TABLE IF NOT EXISTS fake_clock (t double precision NOT NULL);
DELETE FROM fake_clock;
INSERT INTO fake_clock VALUES ({start});
CREATE OR REPLACE FUNCTION clock_timestamp() RETURNS timestamptz LANGUAGE sql STABLE
    AS 'SELECT to_timestamp(t) FROM fake_clock';
"""


@pytest.fixture
async def ledger(backend: str | None, test_settings: Any) -> AsyncIterator[Ledger]:
    pool = None
    if backend is not None:
        # The schema first and pg_catalog after it: the test's clock_timestamp() wins.
        path = f'"{backend}", pg_catalog'
        pool = await asyncpg.create_pool(
            test_settings.database_url,
            min_size=1,
            max_size=2,
            server_settings={"search_path": path},
        )
        await pool.execute(_FRESH_LEDGERS_SQL.format(start=repr(START)))
    under_test = Ledger("memory" if pool is None else "postgres", FakeClock(START), pool)
    try:
        yield under_test
    finally:
        for limiter in under_test.made:
            await limiter.aclose()
        if pool is not None:
            await pool.close()


async def _book(
    limiter: Any,
    count: int = 1,
    priority: Priority = Priority.WRITE,
    *,
    location_id: str = LOC,
    horizon: float | None = None,
    request_class: RequestClass | None = None,
) -> Booking:
    booking: Booking = await limiter._book(
        location_id,
        count,
        DEFAULT_HORIZONS[priority] if horizon is None else horizon,
        background=priority in BACKGROUND,
        request_class=request_class or current_class(priority),
    )
    return booking


def _slots(booking: Booking) -> list[float]:
    return [booking.first_at + i * booking.spacing for i in range(booking.granted)]


async def _drain(ledger: Ledger, limiter: Any, n: int, priority: Priority) -> list[Booking]:
    """Book `n` slots one booking at a time, moving the clock when the ledger says to wait."""
    bookings: list[Booking] = []
    while sum(b.granted for b in bookings) < n:
        booking = await _book(limiter, n - sum(b.granted for b in bookings), priority)
        if booking.granted:
            bookings.append(booking)
            await ledger.advance(booking.delay)
        else:
            # At least a microsecond: a smaller step is lost in an epoch time's rounding.
            await ledger.advance(max(booking.retry_in, 1e-6))
    return bookings


def _most_in_a_window(times: list[float], window: float) -> int:
    times = sorted(times)
    j = best = 0
    for i in range(len(times)):
        while times[i] - times[j] > window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_no_window_holds_more_than_the_budget(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=10, interval=0.2, margin=0.0)
    bookings = await _drain(ledger, limiter, 35, Priority.POLL)
    slots = [t for b in bookings for t in _slots(b)]
    assert len(slots) == 35
    assert _most_in_a_window(slots, 0.2) <= 10
    seqs = [b.first_seq + i for b in bookings for i in range(b.granted)]
    assert seqs == list(range(1, 36))


async def test_pacing_spends_nearly_the_whole_budget(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=100, interval=1.0, margin=0.01)
    booking = await _book(limiter, 100)
    assert (booking.granted, booking.first_seq, booking.delay) == (100, 1, 0.0)
    assert booking.first_at == pytest.approx(START)
    assert booking.spacing == pytest.approx(1.01 / 99)
    assert _slots(booking)[-1] - booking.first_at == pytest.approx(1.01)


async def test_the_background_leaves_its_share_of_slots_free(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=100, interval=1.0, margin=0.01, background_share=0.9)
    bookings = await _drain(ledger, limiter, 100, Priority.BACKFILL)
    slots = [t for b in bookings for t in _slots(b)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(1.01 / 99 / 0.9)
    assert slots[-1] - slots[0] == pytest.approx(1.01 / 0.9)


async def test_a_write_never_queues_behind_what_the_background_booked(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=51, interval=1.0, margin=0.0)
    booked = 0
    while (poll := await _book(limiter, 10, Priority.POLL)).granted:
        booked += poll.granted
    assert booked >= 1
    assert poll.retry_in > 0  # the background is at its horizon
    write = await _book(limiter)
    # At most the poll horizon of booked slots, plus one spacing (1.0 / 50).
    assert write.granted == 1
    assert write.delay <= DEFAULT_HORIZONS[Priority.POLL] + 0.02 + 1e-9


async def test_a_booking_past_the_horizon_is_refused_with_when_to_ask(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=11, interval=1.0, margin=0.0)
    first = await _book(limiter, 5, horizon=0.2)
    assert first.granted == 3  # slots at +0, +0.1, +0.2
    refused = await _book(limiter, 1, horizon=0.2)
    assert refused.granted == 0
    assert refused.retry_in == pytest.approx(0.1)
    await ledger.advance(0.1)
    again = await _book(limiter, 1, horizon=0.2)
    assert (again.granted, again.first_seq) == (1, 4)
    assert again.first_at == pytest.approx(START + 0.3)


async def test_bookings_are_counted_by_request_class(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=1000, interval=1.0)
    await _book(limiter, 5)
    await _book(limiter, 7, Priority.POLL, request_class=RequestClass.CHILDREN_SWEEP)
    await ledger.advance(1.0)
    await _book(limiter, 1, Priority.BACKFILL)
    assert await ledger.counts(limiter, LOC) == {
        "write": 5,
        "children_sweep": 7,
        "backfill": 1,
    }


async def test_the_daily_budget_ends_at_midnight_utc(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=100, interval=1.0, daily=2)
    assert (await _book(limiter, 5)).granted == 2
    refused = await _book(limiter)
    assert refused.granted == 0
    midnight = (START // DAY + 1) * DAY
    assert refused.retry_in == pytest.approx(midnight - START)
    await ledger.advance(refused.retry_in)
    assert (await _book(limiter)).granted == 1


async def test_a_lower_max_from_ghl_is_believed(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=100, interval=1.0, margin=0.0)
    first = await _book(limiter)
    permit = Permit(LOC, first.first_seq, first.first_at, Priority.WRITE)
    await limiter.observe(permit, RateLimitHeaders(max=11, remaining=10, interval=1.0))
    assert (await _book(limiter)).spacing == pytest.approx(0.1)


async def test_others_use_slows_the_pacing_for_one_interval(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=11, interval=1.0, margin=0.0)
    first = await _book(limiter)
    assert first.spacing == pytest.approx(0.1)
    permit = Permit(LOC, first.first_seq, first.first_at, Priority.WRITE)
    # One of ours in the window, yet GHL says 1 of 11 remains: 9 were someone else's.
    await limiter.observe(permit, RateLimitHeaders(max=11, remaining=1, interval=1.0))
    assert (await _book(limiter)).spacing == pytest.approx(1.0)
    await ledger.advance(1.5)  # past the interval the others' use was seen in
    assert (await _book(limiter)).spacing == pytest.approx(0.1)


async def test_ghl_daily_figures_are_believed(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=100, interval=1.0, daily=1000)
    first = await _book(limiter)
    permit = Permit(LOC, first.first_seq, first.first_at, Priority.WRITE)
    await limiter.observe(permit, RateLimitHeaders(daily_limit=500, daily_remaining=0))
    refused = await _book(limiter)
    assert refused.granted == 0
    assert refused.retry_in > 0


async def test_a_429_penalty_moves_the_next_slot(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=100, interval=1.0)
    await _book(limiter)
    await limiter.penalize(LOC, 5.0)
    after = await _book(limiter)
    assert after.first_at == pytest.approx(START + 5.0)
    assert after.delay == pytest.approx(5.0)


async def test_locations_have_separate_budgets(ledger: Ledger) -> None:
    limiter = ledger.limiter(requests=2, interval=10.0, margin=0.0)
    assert (await _book(limiter, 3, location_id="a")).granted == 2
    b = await _book(limiter, location_id="b")
    assert (b.granted, b.first_seq, b.delay) == (1, 1, 0.0)
