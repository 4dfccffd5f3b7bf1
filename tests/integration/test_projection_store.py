"""The projection store on real PostgreSQL: exact under duplication, reordering and crashes."""

from __future__ import annotations

import random
from datetime import timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Contact, ContactDeleted, ContactUpserted, Task, TaskUpserted, encode_event
from streams.projections import (
    ConsumedRecord,
    ProjectionStore,
    diff_tables,
    dump_tables,
)
from tests.factories import T0, histories, history, redelivered
from tests.factories.streams import assert_tables_exact, empty_projections

pytestmark = pytest.mark.integration


def _records(events: list, topic: str = "events", partitions: int = 3) -> list[ConsumedRecord]:
    offsets = [0] * partitions
    out = []
    for event in events:
        p = hash(event.key) % partitions
        out.append(ConsumedRecord(topic, p, offsets[p], encode_event(event), event.key.encode()))
        offsets[p] += 1
    return out


def _batches(records: list[ConsumedRecord], rnd: random.Random) -> list[list[ConsumedRecord]]:
    out, i = [], 0
    while i < len(records):
        n = rnd.randint(1, 40)
        out.append(records[i : i + n])
        i += n
    return out


async def _apply_all(pg: asyncpg.Connection, batches: list[list[ConsumedRecord]]) -> None:
    store = ProjectionStore("test")
    for batch in batches:
        await store.apply(pg, batch)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=histories, rnd=st.randoms(use_true_random=False))
async def test_any_duplication_and_reordering_yields_the_in_order_tables(
    pg: asyncpg.Connection, events: list, rnd: random.Random
) -> None:
    await empty_projections(pg)
    await _apply_all(pg, [[r] for r in _records(events)])
    await assert_tables_exact(pg, events, left_name="in order", right_name="spec")
    in_order = await dump_tables(pg)

    delivered = redelivered(events, rnd)
    await empty_projections(pg)
    await _apply_all(pg, _batches(_records(delivered), rnd))
    assert (
        diff_tables(await dump_tables(pg), in_order, left_name="shuffled", right_name="in order")
        == []
    )


async def test_a_batch_applied_again_changes_nothing_and_is_skipped(pg: asyncpg.Connection) -> None:
    records = _records(history(seed=7, contacts=5))
    store = ProjectionStore("test")
    first = await store.apply(pg, records)
    before = await dump_tables(pg)
    again = await store.apply(pg, records)
    assert first.applied == len(records)
    assert (again.applied, again.skipped) == (0, len(records))
    assert await dump_tables(pg) == before
    spans = await pg.fetch("SELECT partition, from_offset, to_offset FROM applied_batches")
    assert sum(s["to_offset"] - s["from_offset"] + 1 for s in spans) == len(records)


@pytest.mark.parametrize("write", ["copy", "unnest"])
async def test_a_batch_partly_applied_before_applies_only_the_rest(
    pg: asyncpg.Connection, write: str
) -> None:
    # A crash after the first part committed: the whole batch is read again. Its rows were
    # staged whole; only the rest's are written, and the tables end as if applied once.
    events = history(seed=11, contacts=6)
    records = _records(events)
    store = ProjectionStore("test", write=write)
    cut = len(records) // 2
    await store.apply(pg, records[:cut])
    again = await store.apply(pg, records)
    assert (again.applied, again.skipped) == (len(records) - cut, cut)
    await assert_tables_exact(pg, events, left_name="store", right_name="spec")
    spans = await pg.fetch("SELECT partition, from_offset, to_offset FROM applied_batches")
    assert sum(s["to_offset"] - s["from_offset"] + 1 for s in spans) == len(records)


async def test_a_failed_batch_leaves_neither_rows_nor_offsets(pg: asyncpg.Connection) -> None:
    records = _records(history(seed=3, contacts=3))
    store = ProjectionStore("test")

    async def broken_sink(letters: object) -> None:
        raise ConnectionError("dead-letter topic unreachable")

    poison = ConsumedRecord("events", 0, 10_000, b'{"event_type": "contact.exploded"}')
    with pytest.raises(ConnectionError):
        await store.apply(pg, [*records, poison], dead_letters=broken_sink)
    assert await pg.fetchval("SELECT count(*) FROM contacts") == 0
    assert await pg.fetchval("SELECT count(*) FROM consumer_offsets") == 0

    handed: list = []

    async def sink(letters: list) -> None:
        handed.extend(letters)

    outcome = await store.apply(pg, [*records, poison], dead_letters=sink)
    assert outcome.applied == len(records)
    assert [d.record.offset for d in handed] == [10_000]
    assert "contact.exploded" in handed[0].reason
    assert await pg.fetchval("SELECT count(*) FROM contacts") > 0


async def test_a_late_tombstone_older_than_the_contact_row_hides_no_child(
    pg: asyncpg.Connection,
) -> None:
    # The contact's newest row in the table is a snapshot newer than the tombstone that
    # arrives later with a child: the contact stays, and so does the child, as the reference
    # tables say (only the cascade, which reads the contact's row after the merge, may hide).
    loc, cid = "loc1", "c1"
    common = {"location_id": loc, "source": "poll"}
    snapshot = ContactUpserted.build(
        contact=Contact(
            id=cid, locationId=loc, firstName="Ann", dateUpdated=T0 + timedelta(hours=2)
        ),
        observed_at=T0 + timedelta(hours=2),
        **common,
    )
    tombstone = ContactDeleted.build(
        contact_id=cid,
        deleted_at=T0 + timedelta(hours=1),
        observed_at=T0 + timedelta(hours=3),
        **common,
    )
    task = TaskUpserted.build(
        task=Task(id="t1", title="Call", contactId=cid, dateUpdated=T0), observed_at=T0, **common
    )
    store = ProjectionStore("test")
    await store.apply(pg, _records([snapshot], partitions=1))
    await store.apply(
        pg,
        [r._replace(offset=1 + i) for i, r in enumerate(_records([tombstone, task], partitions=1))],
    )
    await assert_tables_exact(pg, [snapshot, tombstone, task], left_name="store", right_name="spec")
    assert await pg.fetchval("SELECT deleted_at FROM tasks WHERE id = 't1'") is None
