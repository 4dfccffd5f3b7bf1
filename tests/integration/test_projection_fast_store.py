"""The fast path on real PostgreSQL: it dead-letters exactly what the models reject, and its
rows (one COPY into a staging table, then one upsert statement) are the models' rows."""

from __future__ import annotations

import random

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import EventDecodeError, decode_event, encode_event
from streams.projections import (
    ConsumedRecord,
    ProjectionStore,
    dump_tables,
)
from tests.factories import histories
from tests.factories.streams import assert_tables_exact, empty_projections
from tests.unit.projections.test_projection_fastpath import mutated  # a strategy

pytestmark = pytest.mark.integration


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=histories,
    bad=st.lists(mutated(), min_size=1, max_size=12),
    rnd=st.randoms(use_true_random=False),
    write=st.sampled_from(["copy", "unnest"]),
)
async def test_the_store_dead_letters_exactly_the_models_rejections_and_writes_their_rows(
    pg: asyncpg.Connection, events: list, bad: list[bytes], rnd: random.Random, write: str
) -> None:
    values = [encode_event(e) for e in events] + bad
    rnd.shuffle(values)
    records = [ConsumedRecord("events", 0, i, v) for i, v in enumerate(values)]
    models = [decode_event(v) for v in values]
    rejected = {i: m.reason for i, m in enumerate(models) if isinstance(m, EventDecodeError)}
    accepted = [m for m in models if not isinstance(m, EventDecodeError)]

    await empty_projections(pg)
    store = ProjectionStore("test", write=write)
    handed: list = []

    async def sink(letters: list) -> None:
        handed.extend(letters)

    cut = rnd.randint(0, len(records))
    for batch in (records[:cut], records[cut:]):
        if batch:
            await store.apply(pg, batch, dead_letters=sink)
    assert {d.record.offset: d.reason for d in handed} == rejected
    await assert_tables_exact(pg, accepted, left_name="store", right_name="spec")  # type: ignore[arg-type]


async def test_copy_and_unnest_write_the_same_tables(pg: asyncpg.Connection) -> None:
    from tests.factories import event_stream

    values = [encode_event(e) for e in event_stream(4000, seed=5)]
    dumps = []
    for write in ("copy", "unnest"):
        await empty_projections(pg)
        store = ProjectionStore("test", write=write)
        for start in range(0, len(values), 700):
            chunk = values[start : start + 700]
            await store.apply(
                pg, [ConsumedRecord("events", 0, start + i, v) for i, v in enumerate(chunk)]
            )
        dumps.append(await dump_tables(pg))
    assert dumps[0] == dumps[1]
    assert sum(len(t) for t in dumps[0].values()) > 1000
