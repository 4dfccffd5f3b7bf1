"""Per-location queues of normalize work (pure bookkeeping, no I/O).

Every location has a `Lane`: the groups of deliveries waiting for their fetch, coalesced per
entity while they wait, taken in arrival order. A group is only taken when no other group of
its ordering key (the raw record's key, `location:contact`) is being resolved, so a contact's
events are produced in the order its deliveries arrived. A lane has its own fetch slots; one
lane's backlog, errors or missing token never touch another lane.

A lane is *parked* while its location has no usable token: its groups stay queued (never
dropped) and one of them is retried as a probe every so often; the first probe that passes
resumes the lane.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from streams.normalize.mapping import Decoded, Work, coalesce
from streams.normalize.offsets import Ticket

__all__ = ["Group", "Lane"]


@dataclass(eq=False)
class Group:
    """Deliveries about one entity, resolved together (one fetch, or one share of a burst)."""

    seq: int
    work: Work
    order_key: str
    tickets: list[Ticket] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    """The raw records, parallel to `work.items` (for dead letters)."""
    taken: bool = False
    version: int = 0
    """Which heap entry of the group is live (a group put back is pushed again)."""

    @property
    def entity(self) -> tuple[str, str]:
        """(kind, id): what coalesces."""
        return (self.work.kind, self.work.entity_id)

    def add(self, item: Decoded, ticket: Ticket, record: Any) -> None:
        """One more delivery of the entity."""
        self.work.items.append(item)
        self.tickets.append(ticket)
        self.records.append(record)

    def announced(self) -> datetime:
        """When GHL announced the newest change of the group (its webhook's `timestamp`, else
        when the delivery was received)."""
        return max(i.webhook.timestamp or i.delivery.received_at for i in self.work.items)

    def burstable(self) -> bool:
        """A change a list call can answer: a contact, or a task or note whose contact is
        known (a deletion needs no fetch at all, an appointment is read per contact anyway)."""
        if self.work.deletion() is not None:
            return False
        if self.work.kind == "contact":
            return True
        return self.work.kind in ("task", "note") and self.work.contact_id() is not None


class Lane:
    """One location's queue."""

    def __init__(self, location_id: str) -> None:
        self.location_id = location_id
        self._heap: list[tuple[int, int, int, Group]] = []
        self._ties = itertools.count()
        self._by_entity: dict[tuple[str, str], Group] = {}
        self.busy: set[str] = set()
        self.running = 0
        self.bursting = False
        self.records = 0
        """Records waiting in this lane (queued, not yet taken)."""
        self.parked: str | None = None
        self.parked_since: datetime | None = None
        self._seq = 0

    def __len__(self) -> int:
        return len(self._by_entity)

    def put(self, item: Decoded, ticket: Ticket, record: Any, order_key: str) -> None:
        """Queue a delivery, joining the waiting group of its entity if there is one."""
        [shape] = coalesce([item])
        entity = (shape.kind, shape.entity_id)
        group = self._by_entity.get(entity)
        if group is None:
            self._seq += 1
            group = Group(
                self._seq, Work(shape.location_id, shape.kind, shape.entity_id), order_key
            )
            self._by_entity[entity] = group
            self._push(group)
        group.add(item, ticket, record)
        self.records += 1

    def _push(self, group: Group) -> None:
        group.version += 1
        heapq.heappush(self._heap, (group.seq, next(self._ties), group.version, group))

    def put_back(self, group: Group) -> None:
        """A taken group goes back to the queue in its old place (its location is parked),
        merged with a newer group of the same entity if one has queued meanwhile."""
        newer = self._by_entity.get(group.entity)
        if newer is not None:
            for item, ticket, record in zip(newer.work.items, newer.tickets, newer.records,
                                            strict=True):  # fmt: skip
                group.add(item, ticket, record)
            newer.taken = True
        group.taken = False
        self._by_entity[group.entity] = group
        self._push(group)
        self.records += len(group.tickets) - (len(newer.tickets) if newer is not None else 0)

    def burstable_waiting(self) -> int:
        """Queued contact changes a search could answer."""
        return sum(1 for g in self._by_entity.values() if g.burstable())

    def take_one(self, *, skip_burstable: bool = False) -> Group | None:
        """The oldest queued group whose ordering key is free."""
        blocked: list[tuple[int, int, int, Group]] = []
        found: Group | None = None
        while self._heap:
            entry = heapq.heappop(self._heap)
            group = entry[3]
            if group.taken or entry[2] != group.version:
                continue
            if group.order_key in self.busy or (skip_burstable and group.burstable()):
                blocked.append(entry)
                continue
            found = group
            break
        for entry in blocked:
            heapq.heappush(self._heap, entry)
        if found is not None:
            self._take(found)
        return found

    def take_burst(self, *, settled_before: datetime, limit: int) -> list[Group]:
        """Queued contact changes announced before `settled_before` whose keys are free,
        oldest first, at most `limit`."""
        chosen = sorted(
            (
                g
                for g in self._by_entity.values()
                if g.burstable() and g.order_key not in self.busy
                and g.announced() <= settled_before
            ),
            key=lambda g: g.seq,
        )[:limit]  # fmt: skip
        for group in chosen:
            self._take(group)
        return chosen

    def burstable_settled(self, settled_before: datetime) -> int:
        """Queued burstable changes announced before `settled_before` with free keys."""
        return sum(
            1
            for g in self._by_entity.values()
            if g.burstable() and g.order_key not in self.busy
            and g.announced() <= settled_before
        )  # fmt: skip

    def oldest_burstable_announcement(self) -> datetime | None:
        """When the oldest queued burstable change was announced."""
        return min((g.announced() for g in self._by_entity.values() if g.burstable()), default=None)

    def forget(self, tps: Iterable[TopicPartition]) -> int:
        """Drop queued deliveries of partitions that left this member; returns how many."""
        gone = frozenset(tps)
        dropped = 0
        for entity, group in list(self._by_entity.items()):
            keep = [i for i, t in enumerate(group.tickets) if t.tp not in gone]
            if len(keep) == len(group.tickets):
                continue
            dropped += len(group.tickets) - len(keep)
            group.work.items[:] = [group.work.items[i] for i in keep]
            group.records[:] = [group.records[i] for i in keep]
            group.tickets[:] = [group.tickets[i] for i in keep]
            if not keep:
                group.taken = True
                del self._by_entity[entity]
        self.records -= dropped
        return dropped

    def _take(self, group: Group) -> None:
        group.taken = True
        if self._by_entity.get(group.entity) is group:
            del self._by_entity[group.entity]
        self.busy.add(group.order_key)
        self.records -= len(group.tickets)
