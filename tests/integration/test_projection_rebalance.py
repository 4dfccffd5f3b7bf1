"""Projection consumers joining and leaving one group while events flow: no member crashes
(issue 13: `highwater()` on a partition revoked mid-batch raised `AssertionError: Partition is
not assigned`), and the tables are exact."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from streams.projections.consumer import ProjectionConsumer
from streams.projections.lag import projection_lag
from streams.topics import topic_names
from tests.conftest import StreamsFactory
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import assert_tables_exact, projections_caught_up
from tests.factories.waiting import eventually

pytestmark = pytest.mark.integration


async def test_members_joining_and_leaving_never_crash_and_the_tables_are_exact(
    new_streams: StreamsFactory, kafka_bootstrap: str, pg: asyncpg.Connection
) -> None:
    settings = await new_streams(
        partitions=6,
        batch_size=500,  # small batches: many applies in flight when partitions move
    )
    events = list(event_stream(30_000, seed=21))
    values, keys = encoded(events)
    topic = topic_names(settings).events
    members: list[tuple[ProjectionConsumer, asyncio.Task[None]]] = []

    def join() -> None:
        consumer = ProjectionConsumer(settings)
        members.append((consumer, asyncio.create_task(consumer.run())))

    async def leave(n: int) -> None:
        _, task = members.pop(n)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def healthy() -> None:
        for _, task in members:
            if task.done():
                task.result()  # a crashed member fails the test with its error

    try:
        join()
        step = len(values) // 6
        for n, i in enumerate(range(0, len(values), step)):
            await produce(kafka_bootstrap, topic, values[i : i + step], keys[i : i + step])
            healthy()
            if n in (0, 1, 3):
                join()
            if n in (2, 4):
                await leave(0)
            await asyncio.sleep(1.5)

        async def caught_up() -> bool:
            healthy()
            return await projections_caught_up(settings)

        assert await eventually(caught_up, within=120, every=0.5), await projection_lag(settings)
        healthy()
        assert sum(c.consumer.assignments for c, _ in members if c.consumer) >= 2
    finally:
        while members:
            await leave(0)
    await assert_tables_exact(pg, events)
