"""Synthetic GHL histories as canonical events, for projection tests and benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from hypothesis import strategies as st

from schemas import (
    EVENT_TYPES,
    Appointment,
    Contact,
    Event,
    GhlEntity,
    Note,
    Source,
    Task,
    encode_event,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Observed:
    """An event and when it reached us (the order a perfect source would deliver it)."""

    at: datetime
    event: Event


_KIND_OF: dict[type[GhlEntity], str] = {
    Contact: "contact",
    Task: "task",
    Note: "note",
    Appointment: "appointment",
}


def upserted(
    location_id: str, entity: GhlEntity, *, source: Source, observed_at: datetime
) -> Event:
    """The `*.upserted` event of a GHL snapshot; the snapshot's class picks the event type."""
    kind = _KIND_OF[type(entity)]
    cls: Any = EVENT_TYPES[f"{kind}.upserted"]
    return cls.build(  # type: ignore[no-any-return]
        location_id=location_id, **{kind: entity}, source=source, observed_at=observed_at
    )


def _contact(cid: str, loc: str, n: int, at: datetime, tags: list[str]) -> Contact:
    return Contact(
        id=cid, locationId=loc, firstName=f"First{n}", lastName=f"Last-{cid}",
        email=f"{cid}.{n}@example.com", phone=f"+1555{n:07d}", tags=tags,
        dateAdded=T0, dateUpdated=at,
    )  # fmt: skip


def contact_history(rng: random.Random, loc: str, cid: str, start: datetime) -> list[Observed]:
    """A contact's snapshots, its tasks, notes and appointment, maybe its deletion."""
    events: list[Event] = []

    def deleted(kind: str, at: datetime, **entity: Any) -> None:
        """A deletion of one of the contact's entities (or of the contact), by webhook at `at`."""
        cls: Any = EVENT_TYPES[f"{kind}.deleted"]
        events.append(
            cls.build(location_id=loc, contact_id=cid, source="webhook", observed_at=at, **entity)
        )

    t = start
    for n in range(rng.randint(1, 3)):
        t += timedelta(minutes=rng.randint(1, 30))
        contact = _contact(cid, loc, n, t, rng.sample(["vip", "lead", "customer", "new"], 2))
        for source in rng.sample(["webhook", "poll"], rng.randint(1, 2)):
            seen = t + timedelta(seconds=rng.randint(1, 90))
            events.append(upserted(loc, contact, source=source, observed_at=seen))  # type: ignore[arg-type]
    for k in range(rng.randint(0, 2)):
        tid, tt = f"{cid}-task{k}", start
        for n in range(rng.randint(1, 3)):
            tt += timedelta(minutes=rng.randint(1, 30))
            task = Task(
                id=tid,
                title=f"Call {n}",
                body="b",
                contactId=cid,
                completed=n == 2,
                dueDate=T0 + timedelta(days=n),
                dateUpdated=tt,
            )
            seen = tt + timedelta(seconds=rng.randint(1, 90))
            events.append(upserted(loc, task, source="poll", observed_at=seen))
        if rng.random() < 0.3:
            deleted("task", tt + timedelta(minutes=5), task_id=tid)
    for k in range(rng.randint(0, 2)):
        nid = f"{cid}-note{k}"
        seen = start + timedelta(minutes=rng.randint(1, 60))
        note = Note(id=nid, body=f"note {k}", contactId=cid, dateAdded=start)
        events.append(upserted(loc, note, source="webhook", observed_at=seen))
        if rng.random() < 0.3:
            deleted("note", seen + timedelta(minutes=1), note_id=nid)
    if rng.random() < 0.5:
        at = start + timedelta(minutes=rng.randint(1, 60))
        appt = Appointment(
            id=f"{cid}-appt",
            contactId=cid,
            calendarId="cal1",
            title="Demo",
            appointmentStatus=rng.choice(["confirmed", "cancelled"]),
            startTime=T0,
            endTime=T0 + timedelta(minutes=30),
            dateUpdated=at,
        )
        events.append(upserted(loc, appt, source="webhook", observed_at=at))
        if rng.random() < 0.2:
            deleted("appointment", at + timedelta(seconds=1), appointment_id=f"{cid}-appt")
    if rng.random() < 0.3:
        # Deletion is final in GHL: it comes after everything else known of the contact.
        gone = max(e.observed_at for e in events) + timedelta(minutes=1)
        deleted_at = gone if rng.random() < 0.5 else None
        deleted("contact", gone, deleted_at=deleted_at)
    # Each event reaches us when it was observed.
    return [Observed(e.observed_at, e) for e in events]


def history(seed: int, contacts: int = 4, locations: int = 2, prefix: str = "") -> list[Event]:
    """A random but reproducible history, in the order the facts happened.

    `prefix` starts every location id, so histories with different prefixes never share a row.
    """
    rng = random.Random(seed)
    observed: list[Observed] = []
    for c in range(contacts):
        loc = f"{prefix}loc{c % locations}"
        observed.extend(contact_history(rng, loc, f"c{c}", T0 + timedelta(hours=c)))
    observed.sort(key=lambda o: (o.at, o.event.event_id))
    return [o.event for o in observed]


def redelivered(events: list[Event], rnd: random.Random) -> list[Event]:
    """`events` as an at-least-once source may deliver them: half of them again, and all in an
    order `rnd` chooses."""
    delivered = events + rnd.sample(events, k=len(events) // 2)
    rnd.shuffle(delivered)
    return delivered


histories = st.builds(history, st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 2))
"""Hypothesis strategy of histories."""

Redelivery = tuple[list[Event], list[Event]]
"""A history in order and the same history as an at-least-once source delivered it."""

redeliveries = st.tuples(histories, st.randoms(use_true_random=False)).map(
    lambda drawn: (drawn[0], redelivered(*drawn))
)
"""Hypothesis strategy of `Redelivery`s: each history with a `redelivered` copy of it."""


def event_stream(
    total: int, *, seed: int = 1, contacts_per_history: int = 50, prefix: str = ""
) -> Iterator[Event]:
    """About `total` events: contact, task, note and appointment snapshots and deletions.

    Histories of `contacts_per_history` contacts are generated with different seeds and
    distinct contact ids until `total` events exist.
    """
    produced, round_ = 0, 0
    while produced < total:
        rows = history(
            seed * 1_000_003 + round_, contacts=contacts_per_history, prefix=f"{prefix}r{round_}-"
        )
        for event in rows:
            if produced >= total:
                return
            yield event
            produced += 1
        round_ += 1


async def produce(bootstrap: str, topic: str, events: list[bytes], keys: list[bytes]) -> None:
    """Send encoded events with their keys, acks=all, and wait for every confirmation."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1 << 20,
        compression_type=None,
    )
    await producer.start()
    try:
        pending = [
            await producer.send(topic, value, key=key)
            for value, key in zip(events, keys, strict=True)
        ]
        for future in pending:
            await future
    finally:
        await producer.stop()


def encoded(events: list[Event]) -> tuple[list[bytes], list[bytes]]:
    """Values and keys of events as they travel on the topic."""
    return [encode_event(e) for e in events], [e.key.encode() for e in events]
