"""Burst mode: many changes of one location read by a few list calls instead of one fetch each.

- contacts: `POST /contacts/search` over the `dateUpdated` window that covers the changes
  (from the oldest announcement minus `margin` to now plus `margin`), sorted ascending,
  500 a page. A hit answers a change only if its `dateUpdated` is not older than the webhook
  that announced it (minus `tolerance`): GHL's search index lags writes by seconds, and a hit
  from before the change is the state before it. Hits are kept per location (`cache`), so the
  next burst of the same bulk action answers from them without a request. When many changes
  are still unanswered (the index had not caught up), the search is repeated once after
  `retry_wait`;
- tasks: the location task search with the `contactId` filter (50 contacts a request, 100
  tasks a page); a `TaskComplete` is answered only by a hit that is completed;
- notes: one `GET /contacts/{id}/notes` per contact with two or more changed notes.

Whatever the answers do not hold is fetched one by one (`Prefetched` falls back to the real
fetcher), and every path builds its events with `mapping.resolve`, so one GHL state gets one
event id whichever way it was read.

Thresholds (measured with `bench/burst.py --scenario threshold` against the simulator on
GHL's budget of 10 requests/s per location, 2 s of index lag; median of 3 in the bench's
output): n changes by single fetches take n/10 s and n requests; by burst about
`burst_settle_seconds` (2 s, which covers the index lag) plus a page per 500, and one request.
Measured (median of 3, load average 4.9-7.6): n=10 single 0.99 s / burst 2.29 s, n=20
2.01 s / 2.20 s, n=40 4.05 s / 2.22 s, n=80 8.16 s / 2.39 s. So below 20 single fetches
are fresher and above it bursts are both fresher and ~n times cheaper: `burst_threshold`
defaults to 20. The count is of changes
queued at once: single fetches keep draining a lane, so a threshold far above what arrives
between two dispatches is never reached (n=160 with threshold 160 stayed on single fetches).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas import Appointment, Contact, Note, Task, TaskComplete
from streams.normalize.fetcher import GhlFetcher
from streams.normalize.lanes import Group

__all__ = ["Answer", "Prefetched", "burst_fetch"]

_TASK_IDS_PER_SEARCH = 50


@dataclass(frozen=True, slots=True)
class Answer:
    """What a list call returned for one group."""

    contact: Contact | None = None
    task: Task | None = None
    note: Note | None = None


class Prefetched:
    """A `GhlFetcher` that answers from a burst's list calls and asks GHL for the rest."""

    def __init__(self, real: GhlFetcher, answer: Answer | None) -> None:
        self._real = real
        self._answer = answer

    @property
    def complete(self) -> bool:
        """The group needs no request."""
        return self._answer is not None

    async def contact(self, location_id: str, contact_id: str) -> Contact:
        """The search hit, else `GET /contacts/{id}`."""
        a = self._answer
        if a is not None and a.contact is not None and a.contact.id == contact_id:
            return a.contact
        return await self._real.contact(location_id, contact_id)

    async def task(self, location_id: str, contact_id: str, task_id: str) -> Task:
        """The task-search hit, else the single read."""
        a = self._answer
        if a is not None and a.task is not None and a.task.id == task_id:
            return a.task
        return await self._real.task(location_id, contact_id, task_id)

    async def find_task(self, location_id: str, task_id: str, *, hint: str | None) -> Task | None:
        """Always the real search (bursts only take tasks whose contact is known)."""
        return await self._real.find_task(location_id, task_id, hint=hint)

    async def note(self, location_id: str, contact_id: str, note_id: str) -> Note:
        """The listed note, else the single read."""
        a = self._answer
        if a is not None and a.note is not None and a.note.id == note_id:
            return a.note
        return await self._real.note(location_id, contact_id, note_id)

    async def appointments(self, location_id: str, contact_id: str) -> list[Appointment]:
        """Always the real read."""
        return await self._real.appointments(location_id, contact_id)

    async def contacts_updated(
        self, location_id: str, since: datetime, until: datetime
    ) -> list[Contact]:
        """Always the real search."""
        return await self._real.contacts_updated(location_id, since, until)

    async def tasks_of(self, location_id: str, contact_ids: Sequence[str]) -> list[Task]:
        """Always the real search."""
        return await self._real.tasks_of(location_id, contact_ids)

    async def notes_of(self, location_id: str, contact_id: str) -> list[Note]:
        """Always the real list."""
        return await self._real.notes_of(location_id, contact_id)


def fresh(hit: Contact | None, group: Group, tolerance: timedelta) -> bool:
    """The hit shows the change its webhook announced (not an older state of the index)."""
    if hit is None or hit.dateUpdated is None:
        return False
    return hit.dateUpdated >= group.announced() - tolerance


async def burst_fetch(
    fetcher: GhlFetcher,
    location_id: str,
    groups: Sequence[Group],
    *,
    cache: dict[str, Contact],
    clock: Callable[[], datetime],
    margin: timedelta,
    tolerance: timedelta,
    min_search: int,
    retry_wait: float = 1.0,
) -> dict[int, Answer]:
    """The answers of a burst, keyed by `id(group)`; groups missing from it are fetched one by
    one. Raises the fetcher's `GhlError`s (the caller falls back, or parks on `AuthError`)."""
    answers: dict[int, Answer] = {}
    contacts = [g for g in groups if g.work.kind == "contact"]
    await _contacts(fetcher, location_id, contacts, answers, cache, clock, margin, tolerance,
                    min_search, retry_wait)  # fmt: skip
    await _tasks(fetcher, location_id, [g for g in groups if g.work.kind == "task"], answers)
    await _notes(fetcher, location_id, [g for g in groups if g.work.kind == "note"], answers)
    return answers


async def _contacts(
    fetcher: GhlFetcher,
    loc: str,
    groups: list[Group],
    answers: dict[int, Answer],
    cache: dict[str, Contact],
    clock: Callable[[], datetime],
    margin: timedelta,
    tolerance: timedelta,
    min_search: int,
    retry_wait: float,
) -> None:
    def serve(todo: Iterable[Group]) -> list[Group]:
        left = []
        for g in todo:
            hit = cache.get(g.work.entity_id)
            if fresh(hit, g, tolerance):
                answers[id(g)] = Answer(contact=hit)
            else:
                left.append(g)
        return left

    todo = serve(groups)
    for attempt in range(2):
        if len(todo) < min_search:
            return
        if attempt:
            await asyncio.sleep(retry_wait)
        since = min(g.announced() for g in todo) - margin
        for hit in await fetcher.contacts_updated(loc, since, clock() + margin):
            cache.pop(hit.id, None)  # newest last: the dict's order is the eviction order
            cache[hit.id] = hit
        todo = serve(todo)


async def _tasks(
    fetcher: GhlFetcher, loc: str, groups: list[Group], answers: dict[int, Answer]
) -> None:
    wanted = [g for g in groups if g.work.contact_id() is not None]
    if not wanted:
        return
    contact_ids = sorted({g.work.contact_id() or "" for g in wanted})
    found: dict[str, Task] = {}
    for i in range(0, len(contact_ids), _TASK_IDS_PER_SEARCH):
        for listed in await fetcher.tasks_of(loc, contact_ids[i : i + _TASK_IDS_PER_SEARCH]):
            found[listed.id] = listed
    for g in wanted:
        hit = found.get(g.work.entity_id)
        if hit is None:
            continue
        completes = any(isinstance(i.webhook, TaskComplete) for i in g.work.items)
        if completes and not hit.completed:
            continue
        answers[id(g)] = Answer(task=hit)


async def _notes(
    fetcher: GhlFetcher, loc: str, groups: list[Group], answers: dict[int, Answer]
) -> None:
    by_contact: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        cid = g.work.contact_id()
        if cid is not None:
            by_contact[cid].append(g)
    for cid, of_contact in by_contact.items():
        if len(of_contact) < 2:
            continue
        notes = {n.id: n for n in await fetcher.notes_of(loc, cid)}
        for g in of_contact:
            note = notes.get(g.work.entity_id)
            if note is not None:
                answers[id(g)] = Answer(note=note)
