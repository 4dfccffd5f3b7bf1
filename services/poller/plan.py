"""The quota plan of one location: how often each safety net may run so the poller's daily
spend stays under its share of GHL's 200,000, whatever the location's size. Pure: no I/O,
no clock of its own (callers pass `now`), so a simulated day takes milliseconds.

The poller's budget is `share * daily_quota` (default 25%: the rest is for writes, webhook
enrichment and whatever else the app does). Incremental polls come first: one search per
cycle plus, per change, its share of a search page and one notes read. What is left pays
for the safety nets (task sweep, children sweep, reconciliation), each with a full-pass cost
from the location's size. When their wanted periods cost more than is left, every period is
stretched by the same factor, so a 50,000-contact location sweeps its contacts over a day or
more instead of hourly, and the plan says how stale the net may get (`staleness_bound`).

The children sweep is paced, not burst: each cycle sweeps the contacts its rate has earned
since the last step (`SweepPacer`), the stalest first, recently active ones before quiet ones
of the same age (`sweep_order`).

Custom field definitions (`definitions_seconds` > 0: the poller keeps them fresh) are one
request per read, planned like a net: projected under `definitions` and stretched with the
others when the share is tight.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "PlanInputs",
    "QuotaPlan",
    "SweepPacer",
    "plan_location",
    "sweep_order",
]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What the plan of one location depends on."""

    contacts: int
    tasks: int
    changes_per_day: float = 0.0
    """Contacts changed per day (recent activity), each costing an incremental read."""
    daily_quota: int = 200_000
    share: float = 0.25
    cycle_seconds: float = 60.0
    task_sweep_seconds: float = 300.0
    children_sweep_seconds: float = 3600.0
    reconcile_seconds: float = 3600.0
    search_page: int = 500
    task_page: int = 100
    children_per_contact: int = 1
    """GHL requests to read one contact's children in a sweep (notes; +1 for appointments
    read per contact)."""
    children_fixed: int = 0
    """Requests per full children pass that do not depend on the contact count."""
    task_sweep_fixed: int = 0
    """Requests each task sweep adds (the location-wide appointments read: a calendar
    listing and one read per calendar)."""
    definitions_seconds: float = 0.0
    """Wanted period of the custom field definitions read (one request); 0: not planned."""


@dataclass(frozen=True, slots=True)
class QuotaPlan:
    """Periods of each job and the projected daily spend by request class."""

    budget: float
    cycle_seconds: float
    task_sweep_seconds: float
    children_sweep_seconds: float
    reconcile_seconds: float
    stretch: float
    """>= 1: how much the wanted periods of the safety nets were lengthened."""
    children_on_change: bool = True
    """Whether a changed contact's children are read at once (else by the sweep, first)."""
    projected: Mapping[str, float] = field(default_factory=dict)
    definitions_seconds: float = 0.0
    """Period of the custom field definitions read (0: not planned)."""

    @property
    def projected_daily(self) -> float:
        """Requests per day this plan spends."""
        return sum(self.projected.values())

    @property
    def staleness_bound(self) -> float:
        """Seconds after which every contact has been swept again (the net's worst case)."""
        return self.children_sweep_seconds

    @property
    def children_rate(self) -> float:
        """Contacts per second the children sweep may read."""
        return 0.0 if self.children_sweep_seconds <= 0 else 1.0 / self.children_sweep_seconds


def _pages(items: int, page: int) -> int:
    return max(1, math.ceil(items / page))


def plan_location(p: PlanInputs) -> QuotaPlan:
    """The plan for a location of this size and activity (see the module docstring)."""
    budget = p.share * p.daily_quota
    cycle = p.cycle_seconds
    # Children of changed contacts are read at once while that costs at most a quarter of the
    # share; beyond, the sweep reads them (changed contacts go first in its order).
    on_change = p.changes_per_day * p.children_per_contact <= budget / 4
    per_change = 1.0 / p.search_page + (p.children_per_contact if on_change else 0)
    poll = _DAY / cycle + p.changes_per_day * per_change
    if poll > budget / 2:
        # Even the incremental polls would eat most of the share: poll less often, and keep
        # at least half of the share for the nets.
        cycle = _DAY / max(budget / 2 - p.changes_per_day * per_change, 1.0)
        poll = _DAY / cycle + p.changes_per_day * per_change
    left = max(budget - poll, 1.0)
    task_pass = _pages(p.tasks, p.task_page) + p.task_sweep_fixed
    children_pass = p.contacts * p.children_per_contact + p.children_fixed
    reconcile_pass = _pages(p.contacts, p.search_page)
    # A period below the cycle (0: every cycle) runs once per cycle.
    wanted = {
        "task_sweep": (task_pass, p.task_sweep_seconds),
        "children_sweep": (children_pass, p.children_sweep_seconds),
        "reconciliation": (reconcile_pass, p.reconcile_seconds),
    }
    if p.definitions_seconds > 0:
        wanted["definitions"] = (1, p.definitions_seconds)
    wanted_daily = sum(cost * _DAY / max(period, cycle) for cost, period in wanted.values())
    stretch = max(1.0, wanted_daily / left)
    periods = {
        name: period if stretch == 1.0 else max(period, cycle) * stretch
        for name, (_, period) in wanted.items()
    }
    projected = {"incremental_poll": poll}
    for name, (cost, _) in wanted.items():
        projected[name] = cost * _DAY / max(periods[name], cycle)
    return QuotaPlan(
        budget=budget,
        cycle_seconds=cycle,
        task_sweep_seconds=periods["task_sweep"],
        children_sweep_seconds=periods["children_sweep"],
        reconcile_seconds=periods["reconciliation"],
        stretch=stretch,
        children_on_change=on_change,
        projected=projected,
        definitions_seconds=periods.get("definitions", 0.0),
    )


@dataclass
class SweepPacer:
    """How many contacts the children sweep has earned: `contacts / period` per second."""

    credit: float = 0.0
    last: datetime | None = None

    def earn(self, now: datetime, *, contacts: int, period: float, cap: int) -> int:
        """Contacts to sweep now (at most `cap`); the fraction left carries over."""
        if self.last is None or period <= 0:
            self.last = now
            return 0 if period > 0 else min(contacts, cap)
        elapsed = max((now - self.last).total_seconds(), 0.0)
        self.last = now
        # Never bank more than one pass: a poller that was down does not burst afterwards.
        self.credit = min(self.credit + elapsed * contacts / period, float(max(contacts, 1)))
        take = min(int(self.credit), cap, contacts)
        self.credit -= take
        return take


def sweep_order(
    contacts: Mapping[str, tuple[datetime | None, datetime | None]],
    count: int,
    *,
    skip: Iterable[str] = (),
) -> list[str]:
    """The `count` contacts to sweep next, from `id -> (swept_at, date_updated)`.

    Never-swept contacts first, then the longest unswept; among equals, the most recently
    updated (recent activity) first, then by id so the order is stable.
    """
    skipped = set(skip)
    floor = datetime.min

    def key(item: tuple[str, tuple[datetime | None, datetime | None]]) -> tuple[object, ...]:
        contact_id, (swept_at, updated) = item
        stamp = -updated.timestamp() if updated else 0.0
        return (swept_at is not None, swept_at or floor, stamp, contact_id)

    candidates = (item for item in contacts.items() if item[0] not in skipped)
    return [cid for cid, _ in heapq.nsmallest(count, candidates, key=key)]
