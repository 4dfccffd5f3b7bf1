"""The history store on real PostgreSQL: exact under duplication, reordering and batch cuts;
reads page through it and rebuild the contact as it was."""

from __future__ import annotations

import random

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import encode_event
from streams.history.rows import as_of, history, snapshot_for
from streams.history.store import (
    HistoryCursorError,
    HistoryRecord,
    HistoryStore,
    read_as_of,
    read_history,
)
from tests.factories import histories, redelivered

pytestmark = pytest.mark.integration


def _records(events: list, partitions: int = 3) -> list[HistoryRecord]:
    offsets = [0] * partitions
    out = []
    for event in events:
        p = hash(event.key) % partitions
        out.append(HistoryRecord("events", p, offsets[p], encode_event(event)))
        offsets[p] += 1
    return out


async def _all_pages(pg: asyncpg.Connection, cid: str, loc: str, limit: int) -> list:
    out, cursor = [], None
    while True:
        page = await read_history(pg, cid, location_id=loc, limit=limit, cursor=cursor)
        out.extend(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=histories, rnd=st.randoms(use_true_random=False), limit=st.integers(1, 7))
async def test_duplicated_reordered_batches_read_back_as_the_in_order_history(
    pg: asyncpg.Connection, events: list, rnd: random.Random, limit: int
) -> None:
    await pg.execute("TRUNCATE history_snapshots, history_offsets")
    shuffled = redelivered(events, rnd)
    records = _records(shuffled)
    store = HistoryStore("test")
    i = 0
    while i < len(records):
        n = rnd.randint(1, 15)
        await store.apply(pg, records[i : i + n])
        if rnd.random() < 0.3:  # a crash after the commit: the batch comes again
            again = await store.apply(pg, records[i : i + n])
            assert again.applied == 0
            assert again.skipped == len(records[i : i + n])
        i += n
    contacts = {(e.location_id, e.contact_id) for e in events}
    for loc, cid in contacts:
        mine = [snapshot_for(e) for e in events if (e.location_id, e.contact_id) == (loc, cid)]
        assert await _all_pages(pg, cid, loc, limit) == history(mine)
        for when in sorted({s.version for s in mine}):
            found = await read_as_of(pg, cid, when, location_id=loc)
            assert found is not None
            live = {k: s.fields for k, s in found[1].items() if not s.deleted}
            assert live == as_of(mine, when)


async def test_filters_by_entity_field_and_time_and_a_foreign_cursor_is_refused(
    pg: asyncpg.Connection,
) -> None:
    from tests.factories import history as make_history

    events = make_history(7, contacts=1, locations=1)
    await HistoryStore().apply(pg, _records(events))
    loc, cid = events[0].location_id, events[0].contact_id
    everything = history(snapshot_for(e) for e in events)
    contacts_only = await read_history(pg, cid, location_id=loc, entity_types=["contact"])
    assert contacts_only.entries == [e for e in everything if e.snapshot.entity_type == "contact"]
    emails = await read_history(pg, cid, fields=["email"])
    assert emails.location_id == loc
    assert emails.entries == [e for e in everything if any(c.field == "email" for c in e.changes)]
    middle = everything[len(everything) // 2].snapshot.version
    later = await read_history(pg, cid, since=middle)
    assert later.entries == [e for e in everything if e.snapshot.version >= middle]
    with pytest.raises(HistoryCursorError):
        await read_history(pg, cid, cursor="bm90IG1pbmU")
    assert (await read_history(pg, "nobody")).entries == []
