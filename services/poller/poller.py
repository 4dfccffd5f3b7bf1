"""The poller: what webhooks miss, per location, on a schedule.

Each cycle of a location:

1. when reconciliation is due, read the ids the projections hold *first* (anything GHL lists
   afterwards is at least as new, so an entity created meanwhile is never taken for deleted;
   rows younger than `reconcile_grace_seconds` are left alone for GHL's search-index lag);
2. contacts: `POST /contacts/search` sorted by `dateUpdated` ascending, from the persisted
   cursor minus `overlap_seconds` (every contact when a full pass is due or on the first cycle);
3. notes and appointments of the contacts just read (of every contact on a full pass);
4. tasks: the location task search, every `task_sweep_seconds` (GHL sends no TaskUpdate);
5. reconciliation: ids the projections hold that GHL no longer lists get a tombstone
   (`source="reconcile"`); GHL has no "deleted since" query, so an id-set diff is the only way.

Snapshots are emitted with `source="poll"` straight to `ghl.events.v1`, in the shape normalize
uses (`streams.normalize.canonical`), and only when their payload digest differs from the
last one the poller emitted (tasks and notes have no `dateUpdated`, so a sweep cannot tell
what changed otherwise). The cursor, the digests and the job times are saved only after Kafka
confirmed the cycle's events, so a crash repeats work and never skips it.

Failure policy: a GHL error fails the location's cycle (logged with the location, retried
next cycle); Kafka or PostgreSQL errors propagate (crash and restart). All calls are made at
the client's POLL priority, below writes and webhook enrichment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from services.ghl import GhlClient, GhlError, NotFound, Priority
from services.ghl.requests import ContactSearch, SearchFilter, SearchSort, TaskSearch
from services.poller._sink import EventSink
from services.poller._store import LocationState, PollerStore
from services.poller.settings import PollerSettings
from streams.normalize.canonical import canonical_contact, canonical_task

__all__ = ["CycleReport", "Poller"]

log = logging.getLogger(__name__)

_KINDS = ("contact", "task", "note", "appointment")


@dataclass
class CycleReport:
    """What one cycle of one location did."""

    location_id: str
    full: bool = False
    contacts_read: int = 0
    tasks_read: int = 0
    emitted: int = 0
    deletions: int = 0
    unchanged: int = 0


@dataclass
class _Outbox:
    location_id: str
    digests: dict[str, dict[str, str]]
    events: list[Event] = field(default_factory=list)
    emitted: list[tuple[str, str, str]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0

    def snapshot(self, event: Event) -> None:
        digest = payload_digest(event.payload)
        if self.digests[event.entity_type].get(event.entity_id) == digest:
            self.unchanged += 1
            return
        self.events.append(event)
        self.emitted.append((event.entity_type, event.entity_id, digest))

    def tombstone(self, event: Event) -> None:
        self.events.append(event)
        self.deleted.append((event.entity_type, event.entity_id))


class Poller:
    """Runs cycles; see the module docstring."""

    def __init__(
        self,
        client: GhlClient,
        store: PollerStore,
        sink: EventSink,
        settings: PollerSettings,
        *,
        clock: Callable[[], datetime] | None = None,
        concurrency: int = 8,
    ) -> None:
        self._client = client
        self._store = store
        self._sink = sink
        self._s = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self._concurrency = concurrency
        # Per location: each location has a budget of its own, so one location's queue of
        # children fetches must not hold the slots another location could use.
        self._limits: dict[str, asyncio.Semaphore] = {}

    async def run_forever(self) -> None:
        """Cycle every location every `cycle_seconds` until cancelled."""
        while True:
            locations = list(self._s.locations) or await self._store.locations_with_tokens()
            # Locations are polled side by side: their rate budgets are separate, so one
            # location's long full pass never delays another's.
            await asyncio.gather(*(self._cycle_logged(location) for location in locations))
            await asyncio.sleep(self._s.cycle_seconds)

    async def _cycle_logged(self, location_id: str) -> None:
        try:
            report = await self.run_cycle(location_id)
        except GhlError as exc:
            log.warning("poll cycle failed: location=%s error=%s", location_id, exc)
            return
        log.info("poll cycle: %s", report)

    def _due(self, last: datetime | None, every: float, now: datetime) -> bool:
        return last is None or (now - last).total_seconds() >= every

    async def run_cycle(self, location_id: str) -> CycleReport:
        """One cycle of one location; returns what it did."""
        s, now = self._s, self._clock()
        state = await self._store.state(location_id)
        reconcile = self._due(state.reconciled_at, s.reconcile_seconds, now)
        sweep_tasks = reconcile or self._due(state.tasks_swept_at, s.task_sweep_seconds, now)
        full = (
            reconcile
            or state.contacts_cursor is None
            or self._due(state.children_swept_at, s.children_sweep_seconds, now)
        )
        report = CycleReport(location_id, full=full)
        known: dict[str, dict[str, str] | None] = {}
        if reconcile:
            older_than = now - timedelta(seconds=s.reconcile_grace_seconds)
            for kind in _KINDS:
                known[kind] = await self._store.live_ids(location_id, kind, older_than=older_than)
        out = _Outbox(
            location_id, {kind: await self._store.digests(location_id, kind) for kind in _KINDS}
        )

        contacts, cursor = await self._contacts(
            location_id, None if full else state.contacts_cursor
        )
        report.contacts_read = len(contacts)
        observed = self._clock()
        for contact in contacts:
            out.snapshot(
                ContactUpserted.build(
                    location_id=location_id, contact=contact, source="poll", observed_at=observed
                )
            )
        children = await asyncio.gather(*(self._children(location_id, c.id) for c in contacts))
        seen: dict[str, set[str]] = {kind: set() for kind in _KINDS}
        seen["contact"] = {c.id for c in contacts}
        for events in children:
            for event in events:
                seen[event.entity_type].add(event.entity_id)
                out.snapshot(event)
        if sweep_tasks:
            tasks = [
                canonical_task(t)
                async for t in self._client.iter_tasks(
                    location_id, TaskSearch(limit=100), priority=Priority.POLL
                )
            ]
            report.tasks_read = len(tasks)
            observed = self._clock()
            for task in tasks:
                if task.contactId:
                    seen["task"].add(task.id)
                    out.snapshot(
                        TaskUpserted.build(
                            location_id=location_id, task=task, source="poll", observed_at=observed
                        )
                    )
        if reconcile:
            self._reconcile(out, known, seen)

        report.emitted = await self._sink.emit(out.events)
        report.deletions, report.unchanged = len(out.deleted), out.unchanged
        await self._store.save_digests(location_id, out.emitted, out.deleted, now)
        await self._store.save_state(
            location_id,
            LocationState(
                contacts_cursor=cursor or state.contacts_cursor,
                tasks_swept_at=now if sweep_tasks else state.tasks_swept_at,
                children_swept_at=now if full else state.children_swept_at,
                reconciled_at=now if reconcile else state.reconciled_at,
            ),
        )
        return report

    async def _contacts(
        self, location_id: str, cursor: datetime | None
    ) -> tuple[list[Any], datetime | None]:
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
        contacts = [
            canonical_contact(c)
            async for c in self._client.iter_search_contacts(
                location_id, search, priority=Priority.POLL
            )
        ]
        stamps = [c.dateUpdated for c in contacts if c.dateUpdated is not None]
        return contacts, max(stamps, default=None)

    async def _children(self, location_id: str, contact_id: str) -> list[Event]:
        limit = self._limits.setdefault(location_id, asyncio.Semaphore(self._concurrency))
        async with limit:
            try:
                notes = await self._client.list_notes(
                    location_id, contact_id, priority=Priority.POLL
                )
                appointments = await self._client.list_contact_appointments(
                    location_id, contact_id, priority=Priority.POLL
                )
            except NotFound:
                return []  # deleted since the listing: reconciliation or its webhook tells
        observed = self._clock()
        events: list[Event] = [
            NoteUpserted.build(
                location_id=location_id, note=n, source="poll", observed_at=observed,
                contact_id=contact_id,
            )
            for n in notes
        ]  # fmt: skip
        events.extend(
            AppointmentUpserted.build(
                location_id=location_id, appointment=a, source="poll", observed_at=observed,
                contact_id=contact_id,
            )
            for a in appointments
        )  # fmt: skip
        return events

    def _reconcile(
        self,
        out: _Outbox,
        known: dict[str, dict[str, str] | None],
        seen: dict[str, set[str]],
    ) -> None:
        observed = self._clock()
        loc = out.location_id
        for kind in _KINDS:
            ids = known.get(kind)
            if ids is None:
                log.warning("no projection table for %ss: deletions not reconciled", kind)
                continue
            for entity_id, contact_id in sorted(ids.items()):
                if entity_id in seen[kind]:
                    continue
                common: dict[str, Any] = {
                    "location_id": loc, "source": "reconcile", "observed_at": observed,
                }  # fmt: skip
                if kind == "contact":
                    out.tombstone(ContactDeleted.build(contact_id=entity_id, **common))
                elif kind == "task":
                    out.tombstone(
                        TaskDeleted.build(task_id=entity_id, contact_id=contact_id, **common)
                    )
                elif kind == "note":
                    out.tombstone(
                        NoteDeleted.build(note_id=entity_id, contact_id=contact_id, **common)
                    )
                else:
                    out.tombstone(
                        AppointmentDeleted.build(
                            appointment_id=entity_id, contact_id=contact_id, **common
                        )
                    )
