"""How far each consumed partition is done: the offset below which every record's events are
on Kafka (pure bookkeeping, no I/O).

Records are added in offset order per partition and finished in any order; `confirmed()` is
the oldest unfinished offset (or one past the newest added), so committing it repeats the
unfinished work after a crash and never skips it. Each partition's bookkeeping carries a
generation: a record finished after its partition was revoked and assigned again (by work
that was already in flight) does not count for the new generation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import TopicPartition

__all__ = ["OffsetTracker", "Ticket"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """One consumed record awaiting its events."""

    tp: TopicPartition
    offset: int
    generation: int


@dataclass
class _Partition:
    generation: int
    next_offset: int = 0
    open: dict[int, None] = field(default_factory=dict)
    """Unfinished offsets in the order added (ascending): the first is the oldest."""


class OffsetTracker:
    """Unfinished records per partition."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _Partition] = {}
        self._generation = 0

    def add(self, tp: TopicPartition, offset: int) -> Ticket:
        """A record was taken; its ticket is needed to finish it."""
        part = self._parts.get(tp)
        if part is None:
            self._generation += 1
            part = self._parts[tp] = _Partition(self._generation)
        part.open[offset] = None
        part.next_offset = max(part.next_offset, offset + 1)
        return Ticket(tp, offset, part.generation)

    def done(self, ticket: Ticket) -> None:
        """The record's events (or its dead letter) are acknowledged."""
        part = self._parts.get(ticket.tp)
        if part is not None and part.generation == ticket.generation:
            part.open.pop(ticket.offset, None)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """The partitions left this member."""
        for tp in tps:
            self._parts.pop(tp, None)

    def confirmed(self) -> dict[TopicPartition, int]:
        """Per partition, the offset to commit."""
        return {
            tp: next(iter(part.open)) if part.open else part.next_offset
            for tp, part in self._parts.items()
        }

    def open_count(self) -> int:
        """Records taken and not yet finished."""
        return sum(len(part.open) for part in self._parts.values())
