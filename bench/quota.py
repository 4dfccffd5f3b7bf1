"""Quota benchmark: simulated days of the poller's plan for locations of 2,000, 20,000 and
50,000 contacts, by accounting over a fake clock.

    .venv/bin/python bench/quota.py [--sizes 2000,20000,50000] [--changes 0.05] [--runs 3]

Runs the real cycle code (`services.poller._location.LocationPoller`: plan, pacer, sweep
order, task sweep, appointments through the calendars API (four calendars), reconciliation)
against an in-memory GHL that answers at once, each
request booked on the real `InMemoryRateLimiter` (fake clock, no pacing waits), whose
per-class counts are the accounting. Each location has one task per contact, 1-2 notes per
contact, an appointment on every third; `--changes` of its contacts change per day
(activity spread evenly over the day). It starts as a backfill leaves it (every contact just
read, cursors at the start) and runs for max(1 day, 1.25 x the plan's staleness bound) of
fake time, so the bound is reached at least once.

`--live MINUTES` confirms it in real time: the same cycle code against the simulator (in
process, GHL's 100 requests per 10 s) for MINUTES on the first size, starting as a backfill
leaves a location, and prints what each class spent beside the plan's projection for that
time.

Reported per size: requests per day by class and in total, as a share of the 200,000 (target:
<= 25%), the plan's staleness bound, and the worst age of the oldest unswept contact once the
first full pass is done (target: <= the bound + one cycle). Nothing here waits on the
machine: the figures are counts, the same on any machine (the wall time is shown too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.ghl import Appointment, Contact, Note, Task
from services.ghl import InMemoryRateLimiter, Priority
from services.ghl._activities import Calendar
from services.ghl.requests import ContactSearch, TaskSearch
from services.poller import PollerSettings
from services.poller._location import LocationPoller
from services.poller._store import LocationSnapshot, LocationState, PollerStore

LOC = "bench-location"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


class _FakeGhl:
    """An in-memory location; every call books one request on the limiter."""

    def __init__(self, contacts: int, limiter: InMemoryRateLimiter, seed: int) -> None:
        rng = random.Random(seed)
        self.limiter = limiter
        self.contacts: dict[str, Contact] = {}
        self.notes: dict[str, list[Note]] = {}
        self.appointments: dict[str, list[Appointment]] = {}
        self.tasks: list[Task] = []
        self.touched: dict[str, datetime] = {}
        """Contacts changed during the run (seeded ones are older than any poll window)."""
        for i in range(contacts):
            cid = f"c{i:06d}"
            stamp = T0 - timedelta(days=rng.uniform(1, 400))
            self.contacts[cid] = Contact.model_validate(
                {
                    "id": cid,
                    "locationId": LOC,
                    "firstName": f"F{i}",
                    "dateAdded": stamp,
                    "dateUpdated": stamp,
                }
            )
            self.notes[cid] = [
                Note.model_validate(
                    {"id": f"n{i}-{k}", "body": "note", "contactId": cid, "dateAdded": stamp}
                )
                for k in range(rng.choice((1, 2)))
            ]
            self.appointments[cid] = (
                [
                    Appointment.model_validate(
                        {
                            "id": f"a{i}",
                            "calendarId": "cal",
                            "contactId": cid,
                            "locationId": LOC,
                            "startTime": stamp,
                            "endTime": stamp,
                            "dateUpdated": stamp,
                        }
                    )
                ]
                if i % 3 == 0
                else []
            )
            self.tasks.append(
                Task.model_validate(
                    {"id": f"t{i}", "title": "task", "contactId": cid, "completed": False}
                )
            )

    async def _request(self, priority: Priority) -> None:
        await self.limiter.acquire(LOC, priority)

    def touch(self, contact_id: str, now: datetime) -> None:
        self.contacts[contact_id] = self.contacts[contact_id].model_copy(
            update={"dateUpdated": now, "firstName": f"edited {now.isoformat()}"}
        )
        self.touched[contact_id] = now

    async def iter_search_contacts(
        self, location_id: str, search: ContactSearch, *, priority: Priority
    ) -> AsyncIterator[Contact]:
        since = None
        for f in search.filters or []:
            since = datetime.fromisoformat(f.value["gte"])  # type: ignore[index]
        if since is None:
            pool = list(self.contacts.values())
        else:
            pool = [self.contacts[cid] for cid, at in self.touched.items() if at >= since]
        hits = sorted(pool, key=lambda c: (c.dateUpdated or T0, c.id))
        page = search.pageLimit
        for start in range(0, max(len(hits), 1), page):
            await self._request(priority)
            for contact in hits[start : start + page]:
                yield contact
            if len(hits[start : start + page]) < page:
                return

    async def iter_tasks(
        self, location_id: str, search: TaskSearch, *, priority: Priority
    ) -> AsyncIterator[Task]:
        for start in range(0, len(self.tasks) + 1, search.limit):
            await self._request(priority)
            for task in self.tasks[start : start + search.limit]:
                yield task

    async def list_notes(
        self, location_id: str, contact_id: str, *, priority: Priority
    ) -> list[Note]:
        await self._request(priority)
        return self.notes[contact_id]

    async def list_calendars(self, location_id: str, *, priority: Priority) -> list[Any]:
        await self._request(priority)
        return [Calendar(id=f"cal{i}") for i in range(4)]

    async def list_calendar_events(
        self, location_id: str, *, start_time: datetime, end_time: datetime,
        calendar_id: str, priority: Priority,
    ) -> list[Appointment]:  # fmt: skip
        await self._request(priority)
        index = int(calendar_id[3:])
        return [a for i, cid in enumerate(sorted(self.appointments)) if i % 4 == index
                for a in self.appointments[cid]]  # fmt: skip

    async def list_contact_appointments(
        self, location_id: str, contact_id: str, *, priority: Priority
    ) -> list[Appointment]:
        await self._request(priority)
        return self.appointments[contact_id]


class _NoProjections:
    async def live_ids(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        return {}


class _NullSink:
    def __init__(self) -> None:
        self.events = 0

    async def emit(self, events: Any) -> int:
        n = len(list(events))
        self.events += n
        return n


async def simulate(size: int, changes: float, seed: int) -> dict[str, Any]:
    """One location of `size` contacts; returns the day's accounting."""
    now = T0
    limiter = InMemoryRateLimiter(
        requests=10**9, interval=1.0, daily=10**9, clock=lambda: now.timestamp()
    )
    ghl = _FakeGhl(size, limiter, seed)
    settings = PollerSettings()
    snapshot = LocationSnapshot(
        state=LocationState(
            contacts_cursor=T0, tasks_swept_at=T0, children_swept_at=T0, reconciled_at=T0
        ),
        contacts={cid: (T0, c.dateUpdated) for cid, c in ghl.contacts.items()},
        digests={
            "contact": {},
            "task": {f"t{i}": "" for i in range(size)},
            "note": {},
            "appointment": {},
        },
        backfilled=True,
    )
    poller = LocationPoller(
        LOC,
        snapshot,
        client=cast(Any, ghl),
        store=cast(PollerStore, _NoProjections()),
        sink=cast(Any, _NullSink()),
        settings=settings,
        clock=lambda: now,
    )
    poller.changes_per_day = changes * size
    plan = poller.replan()
    duration = max(86_400.0, 1.25 * plan.staleness_bound)
    rng = random.Random(seed + 1)
    ids = sorted(ghl.contacts)
    per_cycle = changes * size * plan.cycle_seconds / 86_400
    owed = 0.0
    worst_age = 0.0
    started = time.perf_counter()
    while (now - T0).total_seconds() < duration:
        now += timedelta(seconds=poller.plan.cycle_seconds)
        owed += per_cycle
        for _ in range(int(owed)):
            ghl.touch(rng.choice(ids), now - timedelta(seconds=rng.uniform(0, 50)))
        owed -= int(owed)
        await poller.cycle()
        oldest = poller.oldest_swept_at()
        if oldest is not None and (now - T0).total_seconds() > plan.staleness_bound:
            worst_age = max(worst_age, (now - oldest).total_seconds())
    wall = time.perf_counter() - started
    days = (now - T0).total_seconds() / 86_400
    by_class: dict[str, float] = {}
    for (_, _, klass), n in limiter.counts.items():
        by_class[klass.value] = by_class.get(klass.value, 0) + n / days
    await limiter.aclose()
    total = sum(by_class.values())
    return {
        "size": size,
        "days": days,
        "per_day": total,
        "share": total / 200_000,
        "by_class": by_class,
        "bound": poller.plan.staleness_bound,
        "worst_age": worst_age,
        "cycle": poller.plan.cycle_seconds,
        "wall": wall,
        "projected": poller.plan.projected_daily,
    }


async def live(size: int, minutes: float, changes: float) -> dict[str, Any]:
    """The same cycle code in real time against the simulator at GHL's real rate limits."""
    import httpx
    from pydantic import SecretStr

    from services.ghl import GhlSettings, StaticTokenProvider, build_client
    from services.simulator import SimulatorSettings, create_app

    sim = httpx.ASGITransport(
        app=create_app(SimulatorSettings(seed=41, locations=1, contacts_per_location=size))
    )
    admin = httpx.AsyncClient(transport=sim, base_url="http://sim", timeout=300)
    state = (await admin.get("/_admin/state")).json()["locations"]
    [(loc, truth)] = state.items()
    minted = (await admin.post("/_admin/tokens", json={"locationId": loc})).json()
    ghl = GhlSettings(base_url="http://sim")
    limiter = InMemoryRateLimiter.from_settings(ghl)
    client = build_client(
        ghl, token_provider=StaticTokenProvider(SecretStr(minted["access_token"])),
        rate_limiter=limiter, transport=sim,
    )  # fmt: skip
    now = datetime.now(UTC)
    # As a backfill leaves it: every contact just read, cursors at the start.
    snapshot = LocationSnapshot(
        state=LocationState(
            contacts_cursor=now, tasks_swept_at=now, children_swept_at=now, reconciled_at=now
        ),
        contacts={
            c["id"]: (now, datetime.fromisoformat(c["dateUpdated"])) for c in truth["contacts"]
        },
        digests={"contact": {}, "task": {t["id"]: "" for t in truth["tasks"]}, "note": {},
                 "appointment": {}},
        backfilled=True,
    )  # fmt: skip
    poller = LocationPoller(
        loc, snapshot, client=client, store=cast(PollerStore, _NoProjections()),
        sink=cast(Any, _NullSink()), settings=PollerSettings(), clock=lambda: datetime.now(UTC),
    )  # fmt: skip
    poller.changes_per_day = changes * size
    plan = poller.replan()
    # The simulator's generator makes ~4 changes a step; spread them like the fake-clock run.
    steps_per_cycle = changes * size * plan.cycle_seconds / 86_400 / 4
    owed, started = 0.0, time.monotonic()
    # The measured window starts after the first cycle: its pacer only starts the clock.
    await poller.cycle()
    before = dict(limiter.counts)
    started = time.monotonic()
    await asyncio.sleep(plan.cycle_seconds)
    while time.monotonic() - started < minutes * 60:
        cycle_started = time.monotonic()
        owed += steps_per_cycle
        if owed >= 1:
            await admin.post("/_admin/activity", json={"steps": int(owed)})
            owed -= int(owed)
        await poller.cycle()
        await asyncio.sleep(max(0.0, plan.cycle_seconds - (time.monotonic() - cycle_started)))
    elapsed = time.monotonic() - started
    measured: dict[str, int] = {}
    for key, n in limiter.counts.items():
        klass = key[2].value
        measured[klass] = measured.get(klass, 0) + n - before.get(key, 0)
    measured.pop("write", None)
    await client.aclose()
    await admin.aclose()
    return {
        "size": size, "seconds": elapsed, "measured": measured,
        "expected": {k: v * elapsed / 86_400 for k, v in plan.projected.items()},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000,50000")
    parser.add_argument("--changes", type=float, default=0.05, help="share changed per day")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--live", type=float, default=0.0, metavar="MINUTES",
        help="instead: run the cycle code in real time against the simulator for MINUTES "
        "on the first size, and compare what it spent with the plan",
    )  # fmt: skip
    args = parser.parse_args()
    if args.live:
        size = int(args.sizes.split(",")[0])
        for _ in range(args.runs):
            r = asyncio.run(live(size, args.live, args.changes))
            load = Path("/proc/loadavg").read_text().split()[:3]
            total_m, total_e = sum(r["measured"].values()), sum(r["expected"].values())
            print(
                f"{size:,} contacts, {r['seconds'] / 60:.1f} min real time: {total_m} requests, "
                f"plan projects {total_e:.0f} for that time ({total_m / total_e:.0%}); "
                f"loadavg {' '.join(load)}"
            )
            for k in sorted(set(r["measured"]) | set(r["expected"])):
                print(
                    f"        {k}: {r['measured'].get(k, 0)} (plan {r['expected'].get(k, 0):.0f})"
                )
        return
    failed = False
    for size in (int(s) for s in args.sizes.split(",")):
        runs = [asyncio.run(simulate(size, args.changes, seed)) for seed in range(args.runs)]
        load = (
            Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else []
        )
        median = sorted(runs, key=lambda r: r["per_day"])[len(runs) // 2]
        classes = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(median["by_class"].items()))
        ok_share = median["share"] <= 0.25
        ok_bound = median["worst_age"] <= median["bound"] + median["cycle"]
        failed |= not (ok_share and ok_bound)
        print(
            f"{size:>6,} contacts: {median['per_day']:,.0f} requests/day = "
            f"{median['share']:.1%} of 200,000 ({'ok' if ok_share else 'OVER 25%'}); "
            f"plan projects {median['projected']:,.0f}/day"
        )
        print(f"        by class per day: {classes}")
        print(
            f"        staleness bound {median['bound'] / 3600:.1f} h, worst oldest-unswept age "
            f"after the first pass {median['worst_age'] / 3600:.1f} h "
            f"({'reached' if ok_bound else 'EXCEEDED'}); {median['days']:.2f} simulated days "
            f"in {statistics.median(r['wall'] for r in runs):.1f} s wall (median of "
            f"{len(runs)}); loadavg {' '.join(load)}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
