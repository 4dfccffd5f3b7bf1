"""One location's cycle: what the poller reads, emits and remembers.

Each cycle, in this order:

1. when reconciliation is due, read the ids the projections hold *first* (anything GHL lists
   afterwards is at least as new, so an entity created meanwhile is never taken for deleted;
   rows younger than `reconcile_grace_seconds` are left alone for GHL's search-index lag);
2. incremental poll: `POST /contacts/search` by `dateUpdated` ascending, 500 per page, from
   the cursor minus `overlap_seconds`. A contact whose `dateUpdated` equals the one already
   read is skipped (the overlap window never re-reads children or re-emits); a changed one is
   emitted and its notes (and appointments) are read: that is the evidence of change;
3. children sweep: the contacts the plan's pace has earned since the last cycle, stalest
   first (`plan.sweep_order`); their notes (and appointments, where the calendars API is
   not available) are read and those the projections hold but GHL no longer lists are
   tombstoned;
4. task sweep (no TaskUpdate webhook exists) when due: the location task search, and the
   tasks it no longer lists are tombstoned; with it, the location's appointments through
   the calendars API (`GET /calendars/`, then `GET /calendars/events` per calendar over the
   sweep window), reconciled the same way within the window;
5. reconciliation when due: every contact id (search pages of 500); ids the projections hold
   that GHL no longer lists get a tombstone (`source="reconcile"`).

With a `DefinitionSync`, the location's custom field definitions are read again when the plan
says (`definitions`, one request) or when a contact read names a field id they lack.

Each request is counted under its class (`charged_to`). Snapshots are emitted only when their
payload digest differs from the last one emitted. Memory is updated, and a delta handed to the
flusher, only after Kafka confirmed the cycle's events: a crash repeats work, never skips it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas import (
    AppointmentDeleted,
    AppointmentUpserted,
    ContactDeleted,
    ContactUpserted,
    Event,
    NoteDeleted,
    NoteUpserted,
    TaskDeleted,
    TaskUpserted,
    payload_digest,
)
from schemas.canonical import canonical_contact, canonical_task
from services.customfields import DefinitionSync
from services.ghl import (
    GhlClient,
    NotFound,
    Priority,
    RequestClass,
    charged_to,
    supported_operations,
)
from services.ghl.requests import ContactSearch, SearchFilter, SearchSort, TaskSearch
from services.poller._calendars import Window, read_appointments
from services.poller._sink import EventSink
from services.poller._store import LocationDelta, LocationSnapshot, LocationState, PollerStore
from services.poller.plan import PlanInputs, QuotaPlan, SweepPacer, plan_location, sweep_order
from services.poller.settings import PollerSettings

__all__ = ["CycleReport", "LocationPoller"]

log = logging.getLogger("services.poller")


@dataclass
class CycleReport:
    """What one cycle of one location did."""

    location_id: str
    full: bool = False
    contacts_read: int = 0
    contacts_skipped: int = 0
    children_read: int = 0
    swept: int = 0
    tasks_read: int = 0
    emitted: int = 0
    deletions: int = 0
    unchanged: int = 0


@dataclass
class _Outbox:
    location_id: str
    digests: dict[str, dict[str, str]]
    events: list[Event] = field(default_factory=list)
    emitted: dict[tuple[str, str], str] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    unchanged: int = 0

    def snapshot(self, event: Event) -> None:
        digest = payload_digest(event.payload)
        key = (event.entity_type, event.entity_id)
        if self.digests[event.entity_type].get(event.entity_id) == digest or (
            self.emitted.get(key) == digest
        ):
            self.unchanged += 1
            return
        self.events.append(event)
        self.emitted[key] = digest

    def tombstone(self, kind: str, entity_id: str, contact_id: str, observed: datetime) -> None:
        common: dict[str, Any] = {
            "location_id": self.location_id, "source": "reconcile", "observed_at": observed,
        }  # fmt: skip
        if kind == "contact":
            event: Event = ContactDeleted.build(contact_id=entity_id, **common)
        elif kind == "task":
            event = TaskDeleted.build(task_id=entity_id, contact_id=contact_id, **common)
        elif kind == "note":
            event = NoteDeleted.build(note_id=entity_id, contact_id=contact_id, **common)
        else:
            event = AppointmentDeleted.build(
                appointment_id=entity_id, contact_id=contact_id, **common
            )
        self.events.append(event)
        self.deleted.add((kind, entity_id))


class LocationPoller:
    """The in-memory state of one location and its cycle (see the module docstring)."""

    def __init__(
        self,
        location_id: str,
        snapshot: LocationSnapshot,
        *,
        client: GhlClient,
        store: PollerStore,
        sink: EventSink,
        settings: PollerSettings,
        clock: Callable[[], datetime],
        concurrency: int = 8,
        definitions: DefinitionSync | None = None,
    ) -> None:
        self.location_id = location_id
        self._definitions = definitions
        self.snap = snapshot
        self._client = client
        self._store = store
        self._sink = sink
        self._s = settings
        self._clock = clock
        self._limit = asyncio.Semaphore(concurrency)
        # Appointments location-wide (one listing of calendars, one read per calendar and
        # window) where the client has the calendars API; else one read per contact.
        self.calendars_api = "get-calendars" in supported_operations()
        self.calendars = 4  # GHL's default location has a few; corrected by each listing
        self.pacer = SweepPacer()
        self._queue: deque[str] = deque()
        self._pass_began: datetime | None = None
        self.changes_per_day = 0.0
        self.plan = self.replan()

    def replan(self) -> QuotaPlan:
        """The plan for the location's current size and activity."""
        s = self._s
        self.plan = plan_location(
            PlanInputs(
                contacts=len(self.snap.contacts),
                tasks=len(self.snap.digests["task"]),
                changes_per_day=self.changes_per_day,
                daily_quota=s.daily_quota,
                share=s.quota_share,
                cycle_seconds=s.cycle_seconds,
                task_sweep_seconds=s.task_sweep_seconds,
                children_sweep_seconds=s.children_sweep_seconds,
                reconcile_seconds=s.reconcile_seconds,
                search_page=s.page_size,
                children_per_contact=1 if self.calendars_api else 2,
                task_sweep_fixed=self.calendars + 1 if self.calendars_api else 0,
                definitions_seconds=(
                    self._definitions.every_seconds if self._definitions is not None else 0.0
                ),
            )
        )
        return self.plan

    def oldest_swept_at(self) -> datetime | None:
        """When the stalest contact's children were last read (None: no contact was read)."""
        self._clean_queue()
        if self._queue:
            return self.snap.contacts[self._queue[0]][0]
        return min((s for s, _ in self.snap.contacts.values() if s is not None), default=None)

    def _stale_in_queue(self, contact_id: str) -> bool:
        entry = self.snap.contacts.get(contact_id)
        if entry is None:
            return True  # deleted since the pass began
        swept_at = entry[0]
        return (
            swept_at is not None and self._pass_began is not None and (swept_at > self._pass_began)
        )  # read since the pass began (a change, or an earlier step)

    def _clean_queue(self) -> None:
        while self._queue and self._stale_in_queue(self._queue[0]):
            self._queue.popleft()

    def next_sweep(self, count: int, *, skip: Iterable[str] = ()) -> list[str]:
        """The next `count` contacts of the current pass (a new pass, in `sweep_order`, when
        this one is done). Ordering once per pass, not per cycle, keeps a cycle's cost flat
        at any location size."""
        skipped, out = set(skip), list[str]()
        rebuilt = False
        while len(out) < count:
            self._clean_queue()
            if not self._queue:
                if rebuilt or not self.snap.contacts:
                    break
                self._queue = deque(sweep_order(self.snap.contacts, len(self.snap.contacts)))
                self._pass_began = self._clock()
                rebuilt = True
                continue
            contact_id = self._queue.popleft()
            if contact_id not in skipped:
                out.append(contact_id)
        return out

    def plan_row(self) -> dict[str, object]:
        """The plan as `poller_plans` stores it."""
        return {
            "contacts": len(self.snap.contacts),
            "tasks": len(self.snap.digests["task"]),
            "projected": {k: round(v, 1) for k, v in self.plan.projected.items()},
            "projected_daily": self.plan.projected_daily,
            "staleness_bound_s": self.plan.staleness_bound,
            "oldest_swept_at": self.oldest_swept_at(),
        }

    def _due(self, last: datetime | None, every: float, now: datetime) -> bool:
        return last is None or (now - last).total_seconds() >= every

    async def cycle(self) -> tuple[CycleReport, LocationDelta]:
        """One cycle; returns what it did and the state change to persist."""
        s, now, state, plan = self._s, self._clock(), self.snap.state, self.plan
        loc = self.location_id
        reconcile = self._due(state.reconciled_at, plan.reconcile_seconds, now)
        sweep_tasks = self._due(state.tasks_swept_at, plan.task_sweep_seconds, now)
        report = CycleReport(loc, full=reconcile)
        out = _Outbox(loc, self.snap.digests)
        delta = LocationDelta()
        known: dict[str, dict[str, str] | None] = {}
        older_than = now - timedelta(seconds=s.reconcile_grace_seconds)
        if reconcile:
            known["contact"] = await self._store.live_ids(loc, "contact", older_than=older_than)

        # 2. incremental poll (a full read when there is no cursor or reconciliation is due)
        full_read = reconcile or state.contacts_cursor is None
        klass = RequestClass.RECONCILIATION if reconcile else RequestClass.INCREMENTAL_POLL
        with charged_to(klass):
            contacts = await self._contacts(None if full_read else state.contacts_cursor)
        report.contacts_read = len(contacts)
        if self._definitions is not None:
            field_ids = {cf.id for c in contacts for cf in c.customFields or ()}
            with charged_to(RequestClass.DEFINITIONS):
                await self._definitions.maybe_sync(
                    loc, every=plan.definitions_seconds, seen=field_ids
                )
        observed = self._clock()
        changed: list[str] = []
        listed: set[str] = set()
        cursor = state.contacts_cursor
        for contact in contacts:
            listed.add(contact.id)
            if contact.dateUpdated is not None and (cursor is None or contact.dateUpdated > cursor):
                cursor = contact.dateUpdated
            seen = self.snap.contacts.get(contact.id)
            if seen is not None and seen[1] is not None and seen[1] == contact.dateUpdated:
                report.contacts_skipped += 1
                continue
            changed.append(contact.id)
            out.snapshot(
                ContactUpserted.build(
                    location_id=loc, contact=contact, source="poll", observed_at=observed
                )
            )
            # Not read now: never swept, so the sweep takes it first.
            swept_at = observed if plan.children_on_change else None
            delta.contacts[contact.id] = (swept_at, contact.dateUpdated)
        if plan.children_on_change:
            with charged_to(RequestClass.INCREMENTAL_POLL):
                await self._children(changed, out, reconcile_older_than=older_than)
            report.children_read = len(changed)
        else:
            changed = []

        # 3. children sweep, paced by the plan
        take = self.pacer.earn(
            now,
            contacts=len(self.snap.contacts),
            period=plan.children_sweep_seconds,
            cap=s.sweep_batch,
        )
        swept = self.next_sweep(take, skip=changed)
        if swept:
            with charged_to(RequestClass.CHILDREN_SWEEP):
                gone_contacts = await self._children(swept, out, reconcile_older_than=older_than)
            swept_at = self._clock()
            for cid in swept:
                if cid in gone_contacts:
                    continue
                delta.contacts[cid] = (swept_at, self.snap.contacts[cid][1])
        report.swept = len(swept)

        # 4. task sweep
        if sweep_tasks:
            known_tasks = await self._store.live_ids(loc, "task", older_than=older_than)
            with charged_to(RequestClass.TASK_SWEEP):
                tasks = [
                    canonical_task(t)
                    async for t in self._client.iter_tasks(
                        loc, TaskSearch(limit=100), priority=Priority.POLL
                    )
                ]
            report.tasks_read = len(tasks)
            observed = self._clock()
            seen_tasks = set()
            for task in tasks:
                if task.contactId:
                    seen_tasks.add(task.id)
                    out.snapshot(
                        TaskUpserted.build(
                            location_id=loc, task=task, source="poll", observed_at=observed
                        )
                    )
            for task_id, contact_id in sorted((known_tasks or {}).items()):
                if task_id not in seen_tasks:
                    out.tombstone("task", task_id, contact_id, observed)
            if self.calendars_api:
                with charged_to(RequestClass.CHILDREN_SWEEP):
                    await self._appointments(out, now, older_than)

        # 5. contact reconciliation
        if reconcile:
            ids = known.get("contact")
            if ids is None:
                log.warning("no projection table for contacts: deletions not reconciled")
            vanished = sorted(cid for cid in ids or {} if cid not in listed)
            observed = self._clock()
            for contact_id in vanished:
                out.tombstone("contact", contact_id, contact_id, observed)
            for kind in ("note", "appointment"):
                orphans = await self._store.live_ids(
                    loc, kind, older_than=older_than, contacts=vanished
                )
                for entity_id, contact_id in sorted((orphans or {}).items()):
                    out.tombstone(kind, entity_id, contact_id, observed)
            for contact_id in set(self.snap.contacts) - listed:
                delta.gone_contacts.add(contact_id)

        report.emitted = await self._sink.emit(out.events)
        report.deletions, report.unchanged = len(out.deleted), out.unchanged

        # Kafka confirmed: only now does memory move on.
        self._apply(out, delta)
        new_state = LocationState(
            contacts_cursor=cursor,
            tasks_swept_at=now if sweep_tasks else state.tasks_swept_at,
            children_swept_at=now if swept else state.children_swept_at,
            reconciled_at=now if reconcile else state.reconciled_at,
        )
        if new_state != state or out.emitted or out.deleted or delta.contacts:
            delta.state = new_state
            self.snap.state = new_state
        # Recent activity: an exponential average of contacts changed per day.
        elapsed = max(s.cycle_seconds, 1.0)
        rate = len(changed) * 86_400.0 / elapsed if not full_read else 0.0
        self.changes_per_day = 0.9 * self.changes_per_day + 0.1 * rate
        if reconcile or sweep_tasks or delta.gone_contacts or len(changed) > 0:
            self.replan()
        if delta.state is not None:
            delta.plan = self.plan_row()
        return report, delta

    def _apply(self, out: _Outbox, delta: LocationDelta) -> None:
        for (kind, entity_id), digest in out.emitted.items():
            self.snap.digests[kind][entity_id] = digest
        for kind, entity_id in out.deleted:
            self.snap.digests[kind].pop(entity_id, None)
        delta.digests.update(out.emitted)
        delta.gone |= out.deleted
        self.snap.contacts.update(delta.contacts)
        for kind, entity_id in out.deleted:
            if kind == "contact":
                delta.gone_contacts.add(entity_id)
        for contact_id in delta.gone_contacts:
            self.snap.contacts.pop(contact_id, None)
            delta.contacts.pop(contact_id, None)

    async def _contacts(self, cursor: datetime | None) -> list[Any]:
        filters = None
        if cursor is not None:
            since = cursor - timedelta(seconds=self._s.overlap_seconds)
            filters = [
                SearchFilter(
                    field="dateUpdated", operator="range", value={"gte": since.isoformat()}
                )
            ]
        search = ContactSearch(
            pageLimit=self._s.page_size,
            filters=filters,
            sort=[SearchSort(field="dateUpdated", direction="asc")],
        )
        return [
            canonical_contact(c)
            async for c in self._client.iter_search_contacts(
                self.location_id, search, priority=Priority.POLL
            )
        ]

    async def _appointments(self, out: _Outbox, now: datetime, older_than: datetime) -> None:
        """Every appointment starting in the sweep window, calendar by calendar; those the
        projections hold in the window that GHL no longer lists get a tombstone."""
        loc = self.location_id
        window = Window(self._s.appointments_past_days, self._s.appointments_future_days)
        low, high = window.around(now)
        known = await self._store.live_ids(
            loc, "appointment", older_than=older_than, starting=(low, high)
        )
        found = await read_appointments(self._client, loc, low, high, Priority.POLL)
        self.calendars = found.calendars
        observed = self._clock()
        seen = set()
        for appointment in found.appointments:
            seen.add(appointment.id)
            out.snapshot(
                AppointmentUpserted.build(
                    location_id=loc, appointment=appointment, source="poll",
                    observed_at=observed, contact_id=appointment.contactId or "",
                )
            )  # fmt: skip
        for entity_id, contact_id in sorted((known or {}).items()):
            if entity_id not in seen:
                out.tombstone("appointment", entity_id, contact_id, observed)

    async def _children(
        self,
        contact_ids: list[str],
        out: _Outbox,
        *,
        reconcile_older_than: datetime | None = None,
    ) -> set[str]:
        """Read notes and appointments of the contacts into `out`; with
        `reconcile_older_than`, tombstone those the projections hold that GHL no longer lists.
        Returns the contacts GHL no longer knows."""
        if not contact_ids:
            return set()
        known: dict[str, dict[str, str] | None] = {}
        kinds = ("note",) if self.calendars_api else ("note", "appointment")
        if reconcile_older_than is not None:
            for kind in kinds:
                known[kind] = await self._store.live_ids(
                    self.location_id, kind, older_than=reconcile_older_than, contacts=contact_ids
                )
        results = await asyncio.gather(*(self._one_contact(cid) for cid in contact_ids))
        gone: set[str] = set()
        seen: dict[str, set[str]] = {"note": set(), "appointment": set()}
        for contact_id, events in zip(contact_ids, results, strict=True):
            if events is None:
                gone.add(contact_id)
                continue
            for event in events:
                seen[event.entity_type].add(event.entity_id)
                out.snapshot(event)
        observed = self._clock()
        for kind in kinds:
            for entity_id, contact_id in sorted((known.get(kind) or {}).items()):
                if entity_id not in seen[kind] and contact_id not in gone:
                    out.tombstone(kind, entity_id, contact_id, observed)
        return gone

    async def _one_contact(self, contact_id: str) -> list[Event] | None:
        loc = self.location_id
        async with self._limit:
            try:
                notes = await self._client.list_notes(loc, contact_id, priority=Priority.POLL)
                appointments = (
                    []
                    if self.calendars_api
                    else await self._client.list_contact_appointments(
                        loc, contact_id, priority=Priority.POLL
                    )
                )
            except NotFound:
                return None  # deleted since the listing: reconciliation or its webhook tells
        observed = self._clock()
        events: list[Event] = [
            NoteUpserted.build(
                location_id=loc, note=n, source="poll", observed_at=observed,
                contact_id=contact_id,
            )
            for n in notes
        ]  # fmt: skip
        events.extend(
            AppointmentUpserted.build(
                location_id=loc, appointment=a, source="poll", observed_at=observed,
                contact_id=contact_id,
            )
            for a in appointments
        )  # fmt: skip
        return events
