"""Preparing a batch in steps (the consumer's and the rebuild's way, giving the event loop
turns) gives exactly the batch that preparing it at once gives: the same decoded events,
dead-letter positions, offset spans and newest rows."""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import encode_event
from streams.projections import ConsumedRecord, ProjectionStore
from streams.projections.store import PREPARE_STEP, PreparedBatch
from tests.factories import encoded, event_stream, histories
from tests.unit.projections.test_projection_fastpath import mutated  # a strategy


def _records(values: list[bytes]) -> list[ConsumedRecord]:
    # Three partitions, offsets rising within each, as a batch of the events topic reads.
    return [ConsumedRecord("events", i % 3, i // 3, v) for i, v in enumerate(values)]


def _assert_same(in_steps: PreparedBatch, at_once: PreparedBatch) -> None:
    assert in_steps.decoded == at_once.decoded
    assert in_steps.rejected == at_once.rejected
    assert in_steps.spans == at_once.spans
    assert in_steps.rows == at_once.rows
    assert list(in_steps.rows) == list(at_once.rows)  # the same order, so the same COPY


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories,
    bad=st.lists(mutated(), max_size=10),
    rnd=st.randoms(use_true_random=False),
)
def test_a_history_with_rejected_events_is_prepared_the_same_in_steps(
    events: list, bad: list[bytes], rnd: random.Random
) -> None:
    values = [encode_event(e) for e in events] + bad
    rnd.shuffle(values)
    records = _records(values)
    _assert_same(
        asyncio.run(ProjectionStore.prepare_in_steps(records)), ProjectionStore.prepare(records)
    )


def test_a_batch_of_many_steps_is_prepared_the_same_in_steps() -> None:
    values, _ = encoded(list(event_stream(12 * PREPARE_STEP)))
    # Undecodable records at a step's first and last place and in between.
    for at in (0, PREPARE_STEP - 1, PREPARE_STEP, 5 * PREPARE_STEP + 7, len(values)):
        values.insert(at, b'{"event_type": "contact.upserted"')
    records = _records(values)
    at_once = ProjectionStore.prepare(records)
    assert len(at_once.rejected) == 5
    assert len(at_once.rows) > 2 * PREPARE_STEP
    _assert_same(asyncio.run(ProjectionStore.prepare_in_steps(records)), at_once)
