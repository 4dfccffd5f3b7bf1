"""Per-location request budgets, served by priority.

GHL allows 100 requests per 10 s and 200,000 per day for each location. Every process of a
deployment books its requests from one shared ledger per location (`PostgresRateLimiter`; the
`InMemoryRateLimiter` keeps the same ledger in a dict for tests and single-process tools).

The ledger paces requests instead of letting them burst (GCRA: one "theoretical arrival time"
per location). Slots are `interval * (1 + margin) / (max - 1)` apart, so any window of
`interval` seconds, however GHL aligns it, holds at most `max` requests: ~98.5% of the budget
is usable, and the pacing never depends on knowing when GHL's window starts.

Priorities (`WRITE > WEBHOOK_ENRICHMENT > POLL > BACKFILL`) work three ways:

- in each process, a per-location dispatcher serves waiting callers highest priority first;
- across processes, a priority may only book slots up to its *horizon* ahead of now (writes
  10 s, webhook enrichment 2 s);
- the background priorities (POLL, BACKFILL) book at most ~0.2 s ahead (one or two slots,
  enough to keep their pacing exact), and they are paced on a second, slower clock (`tat_bg`,
  spacing divided by `background_share`, default 0.9). Under saturation by polling or
  backfill a tenth of the slots stays free and no more than the next two are booked, so a
  write or a webhook enrichment never queues behind a backlog the background booked: it
  waits at most the background horizon plus one spacing (~0.3 s), whatever the load.

Every booking is also counted against the day by *request class* (`RequestClass`: writes,
webhook enrichment, incremental poll, task sweep, children sweep, reconciliation, backfill),
in the same statement as the booking, so accounting adds no round trip and no commit. The
class comes from `charged_to(...)` around the calls (a context variable), else from the
priority.

GHL's `X-RateLimit-*` headers correct the ledger; where they say less is left, GHL is believed:
a lower `Max`/`Interval` slows the pacing, a lower daily remainder raises the day's count, and
a `Remaining` lower than our own use explains is counted as someone else's use, which slows
our pacing for one interval. A 429 pushes the location's next slot past its `Retry-After`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol

from schemas.ghl_errors import RateLimited
from services.ghl.settings import GhlSettings

__all__ = [
    "BACKGROUND",
    "DEFAULT_HORIZONS",
    "Booking",
    "InMemoryRateLimiter",
    "Permit",
    "Priority",
    "RateLimitHeaders",
    "RateLimiter",
    "RequestClass",
    "charged_to",
    "current_class",
]

_DAY = 86_400.0


class Priority(IntEnum):
    """Who is asking; lower values are served first."""

    WRITE = 0
    WEBHOOK_ENRICHMENT = 1
    POLL = 2
    BACKFILL = 3


BACKGROUND: frozenset[Priority] = frozenset({Priority.POLL, Priority.BACKFILL})
"""Priorities paced on the background clock, below `background_share` of the budget."""

DEFAULT_HORIZONS: Mapping[Priority, float] = {
    Priority.WRITE: 10.0,
    Priority.WEBHOOK_ENRICHMENT: 2.0,
    Priority.POLL: 0.2,
    Priority.BACKFILL: 0.15,
}
"""Seconds ahead of now each priority may book slots."""


class RequestClass(StrEnum):
    """What a request is spent on, for the day's accounting and the quota plan."""

    WRITE = "write"
    WEBHOOK_ENRICHMENT = "webhook_enrichment"
    INCREMENTAL_POLL = "incremental_poll"
    TASK_SWEEP = "task_sweep"
    CHILDREN_SWEEP = "children_sweep"
    RECONCILIATION = "reconciliation"
    BACKFILL = "backfill"
    DEFINITIONS = "definitions"
    """Custom field definitions (at onboarding, on the plan's schedule, on an unknown id)."""


_BY_PRIORITY: Mapping[Priority, RequestClass] = {
    Priority.WRITE: RequestClass.WRITE,
    Priority.WEBHOOK_ENRICHMENT: RequestClass.WEBHOOK_ENRICHMENT,
    Priority.POLL: RequestClass.INCREMENTAL_POLL,
    Priority.BACKFILL: RequestClass.BACKFILL,
}

_CLASS: contextvars.ContextVar[RequestClass | None] = contextvars.ContextVar(
    "ghl_request_class", default=None
)


@contextlib.contextmanager
def charged_to(request_class: RequestClass) -> Iterator[None]:
    """Count the requests made inside the block (and tasks it starts) as `request_class`."""
    token = _CLASS.set(request_class)
    try:
        yield
    finally:
        _CLASS.reset(token)


def current_class(priority: Priority) -> RequestClass:
    """The class a request made now at `priority` is counted as."""
    return _CLASS.get() or _BY_PRIORITY[priority]


@dataclass(frozen=True, slots=True)
class Permit:
    """One granted request slot: its place in the location's sequence and its time."""

    location_id: str
    seq: int
    slot_at: float
    """When the slot opens, in the ledger's clock (epoch seconds)."""
    priority: Priority


@dataclass(frozen=True, slots=True)
class Booking:
    """What a ledger granted: `granted` consecutive slots, `spacing` apart, from `first_at`."""

    granted: int
    first_seq: int = 0
    first_at: float = 0.0
    delay: float = 0.0
    """Seconds from now until the first slot."""
    spacing: float = 0.0
    retry_in: float = 0.0
    """When nothing was granted: seconds until a slot may be bookable at this horizon."""


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """GHL's `X-RateLimit-*` answer headers (absent ones are `None`)."""

    max: int | None = None
    remaining: int | None = None
    interval: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateLimitHeaders | None:
        """Read the headers; `None` when GHL sent none of them."""

        def number(name: str) -> int | None:
            value = headers.get(name)
            if value is None:
                return None
            try:
                return int(float(value))
            except ValueError:
                return None

        interval_ms = number("x-ratelimit-interval-milliseconds")
        parsed = cls(
            max=number("x-ratelimit-max"),
            remaining=number("x-ratelimit-remaining"),
            interval=interval_ms / 1000 if interval_ms else None,
            daily_limit=number("x-ratelimit-limit-daily"),
            daily_remaining=number("x-ratelimit-daily-remaining"),
        )
        return None if parsed == cls() else parsed


class RateLimiter(Protocol):
    """A per-location request budget shared by every caller that holds the same ledger."""

    async def acquire(self, location_id: str, priority: Priority) -> Permit:
        """Wait for, and return, the caller's slot; raises `RateLimited` if it is too far off."""
        ...

    async def observe(self, permit: Permit, headers: RateLimitHeaders) -> None:
        """Correct the ledger from GHL's headers on the answer to `permit`'s request."""
        ...

    async def penalize(self, location_id: str, seconds: float) -> None:
        """GHL answered 429: open no slot of this location for `seconds`."""
        ...

    async def aclose(self) -> None:
        """Stop the dispatchers; pending callers get `RateLimited`."""
        ...


@dataclass
class _Waiter:
    priority: Priority
    request_class: RequestClass
    future: asyncio.Future[tuple[Permit, float]]


@dataclass(frozen=True, slots=True)
class _Ask:
    """One booking a dispatcher asks its ledger for."""

    location_id: str
    count: int
    horizon: float
    background: bool
    request_class: RequestClass


@dataclass
class _Queue:
    heap: list[tuple[int, int, _Waiter]] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class _Dispatching:
    """Per-location priority queues in front of a ledger; subclasses implement `_grant`."""

    _max_batch = 64

    def __init__(
        self,
        *,
        max_wait: float,
        horizons: Mapping[Priority, float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._max_wait = max_wait
        self._horizons = dict(horizons or DEFAULT_HORIZONS)
        self._sleep = sleep
        self._queues: dict[str, _Queue] = {}
        self._order = itertools.count()
        self._closed = False

    async def _book(
        self,
        location_id: str,
        count: int,
        horizon: float,
        *,
        background: bool,
        request_class: RequestClass,
    ) -> Booking:
        """Book up to `count` slots of the location within `horizon` seconds of now."""
        return await self._grant(_Ask(location_id, count, horizon, background, request_class))

    async def _grant(self, ask: _Ask) -> Booking:
        """The ledger's booking; what each backend implements."""
        raise NotImplementedError

    async def acquire(self, location_id: str, priority: Priority) -> Permit:
        if self._closed:
            raise RateLimited("rate limiter is closed", retry_after=0.0)
        queue = self._queues.get(location_id)
        if queue is None:
            queue = self._queues[location_id] = _Queue()
        loop = asyncio.get_running_loop()
        waiter = _Waiter(priority, current_class(priority), loop.create_future())
        top = queue.heap[0][0] if queue.heap else None
        heapq.heappush(queue.heap, (int(priority), next(self._order), waiter))
        # Wake a dispatcher that is sleeping on behalf of a lower priority: this caller may
        # be allowed a nearer slot (a longer horizon).
        if top is None or priority < top:
            queue.wakeup.set()
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(self._dispatch(location_id, queue))
        permit, due = await waiter.future
        delay = due - loop.time()
        if delay > 0:
            await self._sleep(delay)
        return permit

    async def _dispatch(self, location_id: str, queue: _Queue) -> None:
        loop = asyncio.get_running_loop()
        while queue.heap:
            while queue.heap and queue.heap[0][2].future.done():
                heapq.heappop(queue.heap)
            if not queue.heap:
                break
            head = queue.heap[0][2]
            priority, request_class = head.priority, head.request_class
            # One booking serves waiters of one priority and one class, so the day's count
            # per class is exact. The heap's first entries are a sample, not a sorted run.
            wanted = sum(
                1
                for _, _, w in itertools.islice(queue.heap, self._max_batch)
                if w.priority == priority
                and w.request_class == request_class
                and not w.future.done()
            )
            try:
                booking = await self._book(
                    location_id,
                    max(wanted, 1),
                    self._horizons[priority],
                    background=priority in BACKGROUND,
                    request_class=request_class,
                )
            except Exception as exc:  # the ledger failed: every waiter learns why
                self._fail_all(queue, exc)
                return
            if booking.granted == 0:
                if booking.retry_in > self._max_wait:
                    self._fail_all(
                        queue,
                        RateLimited(
                            f"no request slot for location {location_id} within "
                            f"{self._max_wait:.0f}s",
                            retry_after=booking.retry_in,
                        ),
                    )
                    return
                queue.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        queue.wakeup.wait(), timeout=max(booking.retry_in, 0.001)
                    )
                continue
            now = loop.time()
            chosen = self._take(queue, priority, request_class, booking.granted)
            for i, waiter in enumerate(chosen):
                permit = Permit(
                    location_id,
                    booking.first_seq + i,
                    booking.first_at + i * booking.spacing,
                    waiter.priority,
                )
                waiter.future.set_result((permit, now + booking.delay + i * booking.spacing))

    @staticmethod
    def _take(
        queue: _Queue, priority: Priority, request_class: RequestClass, count: int
    ) -> list[_Waiter]:
        """Pop up to `count` live waiters of `priority` and `request_class`, in heap order."""
        chosen: list[_Waiter] = []
        kept: list[tuple[int, int, _Waiter]] = []
        while queue.heap and len(chosen) < count:
            entry = heapq.heappop(queue.heap)
            waiter = entry[2]
            if waiter.future.done():
                continue  # callers went away; their slots stay unused
            if waiter.priority == priority and waiter.request_class == request_class:
                chosen.append(waiter)
            elif waiter.priority == priority:
                kept.append(entry)  # same priority, another class: its own booking
            else:
                kept.append(entry)
                break  # a lower priority: nothing of ours is left ahead of it
        for entry in kept:
            heapq.heappush(queue.heap, entry)
        return chosen

    @staticmethod
    def _fail_all(queue: _Queue, exc: BaseException) -> None:
        while queue.heap:
            _, _, waiter = heapq.heappop(queue.heap)
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    async def aclose(self) -> None:
        self._closed = True
        for queue in self._queues.values():
            self._fail_all(queue, RateLimited("rate limiter is closed", retry_after=0.0))
            if queue.task is not None:
                queue.task.cancel()
        tasks = [q.task for q in self._queues.values() if q.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


def pacing(requests: int, interval: float, margin: float, others: int = 0) -> float:
    """Seconds between slots so any `interval` window holds at most `requests`.

    With slots `s` apart, a closed window of length `interval` holds `floor(interval/s) + 1`;
    `others` is GHL-reported use that is not ours, which our pacing must leave room for.
    """
    usable = max(requests - 1 - others, 1)
    return interval * (1 + margin) / usable


@dataclass
class _Ledger:
    tat: float = 0.0
    tat_bg: float = 0.0
    seq: int = 0
    day: int = -1
    day_count: int = 0
    max_requests: int = 0
    interval: float = 0.0
    daily_limit: int = 0
    others: int = 0
    others_until: float = 0.0
    recent: list[float] = field(default_factory=list)
    """Our latest slot times, ascending (every booking starts after the previous one)."""


class InMemoryRateLimiter(_Dispatching):
    """The ledger in this process's memory: for tests and single-process tools."""

    def __init__(
        self,
        *,
        requests: int = 100,
        interval: float = 10.0,
        daily: int = 200_000,
        margin: float = 0.01,
        background_share: float = 0.9,
        max_wait: float = 120.0,
        horizons: Mapping[Priority, float] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(max_wait=max_wait, horizons=horizons, sleep=sleep)
        self._requests = requests
        self._interval = interval
        self._daily = daily
        self._margin = margin
        self._share = background_share
        self._clock = clock
        self._ledgers: dict[str, _Ledger] = {}
        self.penalties: list[tuple[str, float]] = []
        """Every 429 wait imposed, for inspection."""
        self.counts: dict[tuple[str, int, RequestClass], int] = {}
        """Requests booked per `(location, UTC day number, class)`."""

    @classmethod
    def from_settings(cls, settings: GhlSettings) -> InMemoryRateLimiter:
        """A limiter with the settings' budget."""
        return cls(
            requests=settings.rate_limit_requests,
            interval=settings.rate_limit_interval,
            daily=settings.rate_limit_daily,
            margin=settings.rate_limit_margin,
            background_share=settings.rate_limit_background_share,
            max_wait=settings.rate_limit_max_wait,
        )

    def _ledger(self, location_id: str) -> _Ledger:
        ledger = self._ledgers.get(location_id)
        if ledger is None:
            ledger = self._ledgers[location_id] = _Ledger(
                max_requests=self._requests, interval=self._interval, daily_limit=self._daily
            )
        return ledger

    async def _grant(self, ask: _Ask) -> Booking:
        ledger = self._ledger(ask.location_id)
        now = self._clock()
        day = int(now // _DAY)
        if day != ledger.day:
            ledger.day, ledger.day_count = day, 0
        others = ledger.others if now < ledger.others_until else 0
        spacing = pacing(ledger.max_requests, ledger.interval, self._margin, others)
        # Background slots are spaced wider (their own clock) and also respect the main one.
        step = spacing / self._share if ask.background else spacing
        start = max(ledger.tat, ledger.tat_bg, now) if ask.background else max(ledger.tat, now)
        wait = start - now
        if wait > ask.horizon:
            return Booking(0, retry_in=wait - ask.horizon)
        left_today = ledger.daily_limit - ledger.day_count
        if left_today <= 0:
            return Booking(0, retry_in=(day + 1) * _DAY - now)
        granted = min(ask.count, math.floor((ask.horizon - wait) / step) + 1, left_today)
        first_seq = ledger.seq + 1
        for i in range(granted):
            ledger.recent.append(start + i * step)
        if len(ledger.recent) > 2 * ledger.max_requests:
            del ledger.recent[: -ledger.max_requests]
        last = start + (granted - 1) * step
        ledger.tat = max(ledger.tat, last + spacing)
        if ask.background:
            ledger.tat_bg = last + step
        ledger.seq += granted
        ledger.day_count += granted
        key = (ask.location_id, day, ask.request_class)
        self.counts[key] = self.counts.get(key, 0) + granted
        return Booking(granted, first_seq, start, wait, step)

    async def observe(self, permit: Permit, headers: RateLimitHeaders) -> None:
        ledger = self._ledger(permit.location_id)
        now = self._clock()
        if headers.max and headers.max < ledger.max_requests:
            ledger.max_requests = headers.max
        if headers.interval and headers.interval > ledger.interval:
            ledger.interval = headers.interval
        if headers.daily_limit and headers.daily_limit < ledger.daily_limit:
            ledger.daily_limit = headers.daily_limit
        if headers.daily_remaining is not None:
            ledger.day_count = max(ledger.day_count, ledger.daily_limit - headers.daily_remaining)
        if headers.remaining is not None:
            window_start = permit.slot_at - ledger.interval
            ours = bisect.bisect_right(ledger.recent, permit.slot_at) - bisect.bisect_right(
                ledger.recent, window_start
            )
            others = (headers.max or ledger.max_requests) - headers.remaining - ours
            if others > 0:
                ledger.others = max(others, ledger.others if now < ledger.others_until else 0)
                ledger.others_until = now + ledger.interval

    async def penalize(self, location_id: str, seconds: float) -> None:
        ledger = self._ledger(location_id)
        self.penalties.append((location_id, seconds))
        ledger.tat = max(ledger.tat, self._clock() + seconds)
