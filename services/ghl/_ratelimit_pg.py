"""`PostgresRateLimiter`: the per-location ledger in PostgreSQL, shared by every process.

The ledger's arithmetic lives in the functions of migrations `0011_ghl_rate_limits.sql` and
`0040_ghl_request_classes.sql` (booking, background pacing and the day's count per request
class), each under the location row's lock, so concurrent bookings from any number of
processes never hand out the same slot. Bookings waiting at the same time, for any number of
locations, share one statement (`_BOOK_MANY`): at scale, well under one commit per request.
Times come from the database's clock, and callers get a relative delay, so process clocks
need not agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg

from services.ghl._ratelimit import (
    Booking,
    Permit,
    Priority,
    RateLimitHeaders,
    _Ask,
    _Dispatching,
)
from services.ghl.settings import GhlSettings

__all__ = ["PostgresRateLimiter"]

# A response whose headers agree with the ledger changes nothing; only these are written back.
_DAILY_CHECK_EVERY = 100

# Every booking waiting while the previous statement ran goes into the next one: one round
# trip and one commit for many locations. Rows are locked in location order in every
# process, so two processes' batches never deadlock. The function's columns are `Booking`'s
# fields.
_BOOK_MANY = """
SELECT b.* FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[], $5::float8[])
       WITH ORDINALITY AS q(loc, cls, cnt, hor, share, n)
CROSS JOIN LATERAL ghl_rate_book_v2(q.loc, q.cls, q.cnt, q.hor, $6, $7, $8, $9, q.share) AS b
ORDER BY q.n
"""


@dataclass
class _Pending:
    ask: _Ask
    share: float
    future: asyncio.Future[Booking]


class PostgresRateLimiter(_Dispatching):
    """Budgets in table `ghl_rate_limits`; `pool` connections must see it on their search_path."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: GhlSettings,
        *,
        horizons: Mapping[Priority, float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(max_wait=settings.rate_limit_max_wait, horizons=horizons, sleep=sleep)
        self._pool = pool
        self._max = settings.rate_limit_requests
        self._interval = settings.rate_limit_interval
        self._daily = settings.rate_limit_daily
        self._margin = settings.rate_limit_margin
        self._share = settings.rate_limit_background_share
        self._responses: dict[str, int] = {}
        self._asks: list[_Pending] = []
        self._booking: asyncio.Task[None] | None = None
        self.statements = 0
        """Booking statements sent (each one a commit), for inspection."""

    async def _grant(self, ask: _Ask) -> Booking:
        future: asyncio.Future[Booking] = asyncio.get_running_loop().create_future()
        self._asks.append(_Pending(ask, self._share if ask.background else 1.0, future))
        if self._booking is None or self._booking.done():
            self._booking = asyncio.create_task(self._book_all())
        return await future

    async def _book_all(self) -> None:
        while self._asks:
            await asyncio.sleep(0)  # let every dispatcher that is ready ask too
            asks, self._asks = sorted(self._asks, key=lambda a: a.ask.location_id), []
            try:
                rows = await self._pool.fetch(
                    _BOOK_MANY,
                    [a.ask.location_id for a in asks],
                    [a.ask.request_class.value for a in asks],
                    [a.ask.count for a in asks],
                    [a.ask.horizon for a in asks],
                    [a.share for a in asks],
                    self._max,
                    self._interval,
                    self._daily,
                    self._margin,
                )
            except BaseException as exc:  # every asker learns why (the dispatchers fail theirs)
                for ask in asks:
                    if not ask.future.done():
                        ask.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            self.statements += 1
            for ask, row in zip(asks, rows, strict=True):
                if not ask.future.done():
                    ask.future.set_result(Booking(**row))

    async def observe(self, permit: Permit, headers: RateLimitHeaders) -> None:
        seen = self._responses.get(permit.location_id, 0) + 1
        self._responses[permit.location_id] = seen
        limit = headers.max or self._max
        tells_something = (
            (headers.remaining is not None and headers.remaining <= limit // 2)
            or (headers.max is not None and headers.max < self._max)
            or (headers.interval is not None and headers.interval > self._interval)
            or (headers.daily_limit is not None and headers.daily_limit < self._daily)
            or (headers.daily_remaining is not None and seen % _DAILY_CHECK_EVERY == 0)
        )
        if not tells_something:
            return
        await self._pool.execute(
            "SELECT ghl_rate_observe($1, $2, $3, $4, $5, $6, $7)",
            permit.location_id,
            permit.slot_at,
            headers.max,
            headers.remaining,
            headers.interval,
            headers.daily_limit,
            headers.daily_remaining,
        )

    async def penalize(self, location_id: str, seconds: float) -> None:
        await self._pool.execute(
            "UPDATE ghl_rate_limits SET tat = greatest(tat, extract(epoch FROM clock_timestamp())"
            " + $2), updated_at = now() WHERE location_id = $1",
            location_id,
            seconds,
        )
