"""`ghl-sync backfill --location ID`: a location's contacts, notes, appointments and tasks
into `ghl.events.v1` (`source="backfill"`), resumable after SIGKILL.

Order and resumption: contacts are walked with the search API (500 per page) sorted by
`dateAdded` ascending (ties by id) through the `searchAfter` cursor, so contacts created during
the run land after the cursor and are still read; each page's contacts, their notes and their
appointments (per contact only where the client lacks the calendars API; else the
location's appointments follow, through `GET /calendars/` and `GET /calendars/events` per
calendar over `appointments_past_days`/`_future_days`) are produced and confirmed by Kafka
*before* the page's cursor is saved in
`backfill_progress`, in the same transaction as what the poller needs to know of them (the
`dateUpdated` read, when their children were read, the digests emitted).

Handover: the transaction of the last page also writes the poller's state: the contacts
cursor at the backfill's start (the first poll reads only what changed since, and skips what
the backfill already read at the same `dateUpdated`), the task sweep at the start of the
tasks phase, reconciliation and children at the start. Nothing is read twice.
A kill repeats at most one page (duplicates are harmless: same state, same event ids) and never
skips one. Tasks follow, through the location task search (creation order, `skip`/`limit`);
each page re-reads the last `TASK_OVERLAP` tasks, because a deletion before the cursor shifts
`skip` forward.

ETA: the location's request budget, not the machine, bounds a backfill; the estimate divides
the requests still needed (a page per 500 contacts, two per contact, a page per 100 tasks) by
the budget's rate. Calls are made at the BACKFILL priority, the lowest.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from schemas import (
    AppointmentUpserted,
    ContactUpserted,
    Event,
    NoteUpserted,
    TaskUpserted,
    payload_digest,
)
from schemas.canonical import canonical_contact, canonical_task
from services.ghl import GhlClient, NotFound, Priority, supported_operations
from services.ghl.requests import ContactSearch, SearchSort, TaskSearch
from services.poller._calendars import Window, read_appointments
from services.poller._sink import EventSink
from services.poller._store import LocationDelta, LocationState, write_deltas

__all__ = ["TASK_OVERLAP", "Backfill", "BackfillProgress", "ProgressReporter"]

TASK_OVERLAP = 10
_PAGE = 500
_TASK_PAGE = 100


@dataclass
class BackfillProgress:
    """Where a location's backfill stands."""

    phase: str = "contacts"
    cursor: Any = None
    contacts_done: int = 0
    tasks_done: int = 0
    contacts_total: int | None = None


class ProgressReporter(Protocol):
    """Told after every confirmed page (the CLI draws a rich progress bar)."""

    def __call__(self, progress: BackfillProgress, /, *, requests_left: int) -> None: ...


class Backfill:
    """One location's backfill."""

    def __init__(
        self,
        client: GhlClient,
        pool: asyncpg.Pool,
        sink: EventSink,
        location_id: str,
        *,
        clock: Callable[[], datetime] | None = None,
        appointments_past_days: float = 3650.0,
        appointments_future_days: float = 730.0,
    ) -> None:
        self._client = client
        # Appointments location-wide through the calendars API where the client has it
        # (a few requests), else one read per contact.
        self._calendars_api = "get-calendars" in supported_operations()
        self._window = Window(appointments_past_days, appointments_future_days)
        self._pool = pool
        self._sink = sink
        self._loc = location_id
        self._clock = clock or (lambda: datetime.now(UTC))
        # The budget paces the calls; a few in flight keep it busy across answer latency.
        self._limit = asyncio.Semaphore(8)

    async def load(self) -> BackfillProgress:
        """The saved progress (a fresh one when none)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT phase, cursor, contacts_done, tasks_done FROM backfill_progress "
                "WHERE location_id = $1",
                self._loc,
            )
        if row is None:
            return BackfillProgress()
        cursor = json.loads(row["cursor"]) if row["cursor"] is not None else None
        return BackfillProgress(row["phase"], cursor, row["contacts_done"], row["tasks_done"])

    async def _save(self, p: BackfillProgress, delta: LocationDelta | None = None) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if delta is not None:
                await write_deltas(conn, {self._loc: delta}, holder="backfill")
            await conn.execute(
                "INSERT INTO backfill_progress (location_id, phase, cursor, contacts_done, "
                "tasks_done) VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT (location_id) DO "
                "UPDATE SET phase = EXCLUDED.phase, cursor = EXCLUDED.cursor, contacts_done = "
                "EXCLUDED.contacts_done, tasks_done = EXCLUDED.tasks_done, updated_at = now(), "
                "finished_at = CASE WHEN EXCLUDED.phase = 'done' THEN now() END",
                self._loc,
                p.phase,
                json.dumps(p.cursor),
                p.contacts_done,
                p.tasks_done,
            )

    async def restart(self) -> None:
        """Forget the saved progress (the next run starts over)."""
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM backfill_progress WHERE location_id = $1", self._loc)

    def requests_left(self, p: BackfillProgress) -> int:
        """Estimated GHL requests still needed."""
        if p.phase == "done":
            return 0
        tasks_pages = 1
        if p.phase == "tasks":
            return tasks_pages
        appointments = 5 if self._calendars_api else 0  # a listing, a read per calendar
        if p.phase == "appointments":
            return appointments + tasks_pages
        left = max(0, (p.contacts_total or p.contacts_done) - p.contacts_done)
        per_contact = 1 if self._calendars_api else 2
        return math.ceil(left / _PAGE) + per_contact * left + appointments + tasks_pages

    async def _handover(self, tasks_since: datetime | None) -> LocationState:
        async with self._pool.acquire() as conn:
            started = await conn.fetchval(
                "SELECT started_at FROM backfill_progress WHERE location_id = $1", self._loc
            )
        started = started or self._clock()
        return LocationState(
            contacts_cursor=started,
            tasks_swept_at=tasks_since or started,
            children_swept_at=started,
            reconciled_at=started,
        )

    async def run(self, report: ProgressReporter | None = None) -> BackfillProgress:
        """Run (or resume) to the end; returns the final progress."""
        p = await self.load()
        while p.phase == "contacts":
            search = ContactSearch(
                pageLimit=_PAGE,
                sort=[SearchSort(field="dateAdded", direction="asc")],
                searchAfter=p.cursor,
            )
            page = await self._client.search_contacts(self._loc, search, priority=Priority.BACKFILL)
            if p.contacts_total is None and page.total is not None:
                p.contacts_total = p.contacts_done + page.total
            events: list[Event] = []
            delta = LocationDelta()
            contacts = [canonical_contact(raw) for raw in page.contacts]
            children = await asyncio.gather(*(self._children(c.id) for c in contacts))
            for contact, kids in zip(contacts, children, strict=True):
                observed = self._clock()
                events.append(
                    ContactUpserted.build(
                        location_id=self._loc, contact=contact, source="backfill",
                        observed_at=observed,
                    )
                )  # fmt: skip
                events.extend(kids)
                delta.contacts[contact.id] = (observed, contact.dateUpdated)
            await self._sink.emit(events)
            delta.digests = {
                (e.entity_type, e.entity_id): payload_digest(e.payload) for e in events
            }
            p.contacts_done += len(page.contacts)
            if len(page.contacts) < _PAGE:
                p.phase, p.cursor = "appointments" if self._calendars_api else "tasks", None
                if not self._calendars_api:
                    p.cursor = {"skip": 0, "since": self._clock().isoformat()}
            else:
                p.cursor = (page.contacts[-1].model_extra or {}).get("searchAfter")
            await self._save(p, delta)
            if report:
                report(p, requests_left=self.requests_left(p))
        if p.phase == "appointments":
            # A few requests: a resumed backfill simply reads them again.
            now = self._clock()
            low, high = self._window.around(now)
            found = await read_appointments(self._client, self._loc, low, high, Priority.BACKFILL)
            appointment_events: list[Event] = [
                AppointmentUpserted.build(
                    location_id=self._loc, appointment=a, source="backfill", observed_at=now,
                    contact_id=a.contactId or "",
                )
                for a in found.appointments
            ]  # fmt: skip
            await self._sink.emit(appointment_events)
            p.phase, p.cursor = "tasks", {"skip": 0, "since": self._clock().isoformat()}
            await self._save(
                p,
                LocationDelta(
                    digests={
                        (e.entity_type, e.entity_id): payload_digest(e.payload)
                        for e in appointment_events
                    }
                ),
            )
            if report:
                report(p, requests_left=self.requests_left(p))
        while p.phase == "tasks":
            # Older progress rows hold a bare skip; newer ones also when the phase began.
            cursor = p.cursor if isinstance(p.cursor, dict) else {"skip": p.cursor or 0}
            skip = int(cursor.get("skip") or 0)
            since = cursor.get("since")
            tasks = await self._client.search_tasks(
                self._loc, TaskSearch(limit=_TASK_PAGE, skip=skip), priority=Priority.BACKFILL
            )
            observed = self._clock()
            task_events: list[Event] = [
                TaskUpserted.build(
                    location_id=self._loc, task=canonical_task(t), source="backfill",
                    observed_at=observed,
                )
                for t in tasks
                if t.contactId
            ]  # fmt: skip
            await self._sink.emit(task_events)
            delta = LocationDelta(
                digests={
                    (e.entity_type, e.entity_id): payload_digest(e.payload) for e in task_events
                }
            )
            p.tasks_done = skip + len(tasks)
            if len(tasks) < _TASK_PAGE:
                p.phase, p.cursor = "done", None
                delta.state = await self._handover(
                    datetime.fromisoformat(since) if isinstance(since, str) else None
                )
            else:
                p.cursor = {"skip": skip + len(tasks) - TASK_OVERLAP, "since": since}
            await self._save(p, delta)
            if report:
                report(p, requests_left=self.requests_left(p))
        return p

    async def _children(self, contact_id: str) -> list[Event]:
        async with self._limit:
            return await self._children_of(contact_id)

    async def _children_of(self, contact_id: str) -> list[Event]:
        try:
            notes = await self._client.list_notes(self._loc, contact_id, priority=Priority.BACKFILL)
            appointments = (
                []
                if self._calendars_api
                else await self._client.list_contact_appointments(
                    self._loc, contact_id, priority=Priority.BACKFILL
                )
            )
        except NotFound:
            return []
        observed = self._clock()
        events: list[Event] = [
            NoteUpserted.build(
                location_id=self._loc, note=n, source="backfill", observed_at=observed,
                contact_id=contact_id,
            )
            for n in notes
        ]  # fmt: skip
        events.extend(
            AppointmentUpserted.build(
                location_id=self._loc, appointment=a, source="backfill", observed_at=observed,
                contact_id=contact_id,
            )
            for a in appointments
        )  # fmt: skip
        return events
