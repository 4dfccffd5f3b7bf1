"""Projection consumers joining and leaving one group while events flow: no member crashes
(issue 13: `highwater()` on a partition revoked mid-batch raised `AssertionError: Partition is
not assigned`), and the tables are exact."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from streams.projections import diff_tables, dump_tables, reference_tables, rows_from_images
from streams.projections.consumer import ProjectionConsumer
from streams.projections.lag import projection_lag
from streams.topics import topic_names
from tests.conftest import TestSettings
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import ensure_all_topics, streams_settings

pytestmark = pytest.mark.integration


async def test_members_joining_and_leaving_never_crash_and_the_tables_are_exact(
    test_settings: TestSettings, pg_schema: str, kafka_bootstrap: str, pg: asyncpg.Connection
) -> None:
    settings = streams_settings(
        kafka_bootstrap,
        test_settings.database_url,
        pg_schema,
        batch_size=500,  # small batches: many applies in flight when partitions move
    )
    await ensure_all_topics(settings, partitions=6)
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
        deadline = time.monotonic() + 120
        for _ in iter(int, 1):  # polls the lag: there is no event to wait on
            healthy()
            lags = await projection_lag(settings)
            if lags and all(lag.lag == 0 for lag in lags):
                break
            assert time.monotonic() < deadline, lags
            await asyncio.sleep(0.5)
        healthy()
        assert sum(c.consumer.assignments for c, _ in members if c.consumer) >= 2
    finally:
        while members:
            await leave(0)
    expected = rows_from_images(reference_tables(events).values())
    assert diff_tables(await dump_tables(pg), expected) == []
