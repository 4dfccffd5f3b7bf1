"""A rebalance while PostgreSQL is away: the batch consumers read their offsets from
PostgreSQL when partitions are assigned, so an assignment during the outage must wait for the
database (under the outage policy) instead of failing.

Two members (a projection and a history consumer each) share the partitions; PostgreSQL (a
private cluster, port outside the ephemeral range) goes away while events keep arriving; one
member leaves, so the other is assigned every partition during the outage. Nothing crashes,
nothing is logged as an error (aiokafka logged a traceback for the failed assignment and the
member resumed at Kafka's committed offsets instead of the stored ones), and once PostgreSQL is
back the tables are exact and both groups' stored offsets are at the topic's end.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid

import asyncpg
import pytest
from aiokafka import TopicPartition
from pydantic import SecretStr

from bench.outage import PrivatePostgres, fresh_schema
from streams.admin import ensure_topics
from streams.history.consumer import HistoryConsumer
from streams.projections.consumer import ProjectionConsumer
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import assert_tables_exact
from tests.factories.waiting import eventually

pytestmark = pytest.mark.integration

PARTITIONS = 4
_until = functools.partial(
    eventually, tolerating=(OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
)
"""`eventually`, where a check may fail while PostgreSQL is away or starting again."""


async def test_a_member_leaving_while_postgres_is_away_never_crashes_and_the_tables_are_exact(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pg = PrivatePostgres()
    try:
        await pg.start()
        async with fresh_schema(pg.url) as schema:
            settings = StreamsSettings(
                kafka_bootstrap_servers=kafka_bootstrap,
                topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                app_id=f"test-{uuid.uuid4().hex[:8]}",
                database_url=SecretStr(pg.url),
                database_schema=schema,
                batch_size=200,
                retry_backoff_max=2.0,
            )
            await ensure_topics(kafka_bootstrap, topic_names(settings).all(), partitions=PARTITIONS)
            topic = topic_names(settings).events
            events = list(event_stream(2_000, seed=5))
            values, keys = encoded(events)
            half = len(values) // 2
            members: list[tuple[ProjectionConsumer, HistoryConsumer, list[asyncio.Task[None]]]]
            members = []
            for _ in range(2):
                projections, history = ProjectionConsumer(settings), HistoryConsumer(settings)
                tasks = [asyncio.create_task(projections.run()), asyncio.create_task(history.run())]
                members.append((projections, history, tasks))

            def healthy() -> None:
                for _, _, tasks in members:
                    for task in tasks:
                        if task.done():
                            task.result()  # a crashed consumer fails the test with its error

            async def stored(table: str) -> int:
                conn = await asyncpg.connect(
                    pg.url, timeout=5, server_settings={"search_path": schema}
                )
                try:
                    return int(
                        await conn.fetchval(f"SELECT coalesce(sum(next_offset), 0) FROM {table}")
                    )
                finally:
                    await conn.close()

            async def caught_up(n: int) -> bool:
                healthy()
                return (
                    await stored("consumer_offsets") >= n and await stored("history_offsets") >= n
                )

            async def split() -> bool:
                healthy()
                return all(
                    c.consumer is not None and c.consumer.assignment
                    for p, h, _ in members for c in (p, h)
                )  # fmt: skip

            try:
                assert await _until(split, within=60), "the members did not share the partitions"
                await produce(kafka_bootstrap, topic, values[:half], keys[:half])
                assert await _until(lambda: caught_up(half), within=60)

                await pg.stop()
                await produce(kafka_bootstrap, topic, values[half:], keys[half:])
                stayer = members[0]
                before = [c.consumer.assignments for c in stayer[:2] if c.consumer]
                _, _, leaving = members.pop(1)
                for task in leaving:
                    task.cancel()
                await asyncio.gather(*leaving, return_exceptions=True)

                async def waiting_for_offsets() -> bool:
                    healthy()
                    consumers = [c.consumer for c in stayer[:2] if c.consumer]
                    return all(
                        c.assignments > n and not c.offsets_source.up
                        for c, n in zip(consumers, before, strict=True)
                    )

                # Both groups rebalanced onto the stayer, which waits for the stored offsets.
                assert await _until(waiting_for_offsets, within=40), [
                    (c.consumer.assignments, c.consumer.offsets_source.up)
                    for c in stayer[:2] if c.consumer
                ]  # fmt: skip
                await pg.start()
                assert await _until(lambda: caught_up(len(values)), within=60)

                async def offsets_back() -> bool:
                    healthy()
                    return all(c.consumer and c.consumer.offsets_source.up for c in stayer[:2])

                # Records may flow before the waiting assignment's next try (at most one
                # backoff, 5 s, later) reads the stored offsets and reports them back.
                assert await _until(offsets_back, within=30), [
                    c.consumer.offsets_source for c in stayer[:2] if c.consumer
                ]
                for consumer in stayer[:2]:
                    assert consumer.consumer is not None
                    assert consumer.consumer.assignment == frozenset(
                        TopicPartition(topic, p) for p in range(PARTITIONS)
                    )
            finally:
                for _, _, tasks in members:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            conn = await asyncpg.connect(pg.url, server_settings={"search_path": schema})
            try:
                await assert_tables_exact(conn, events)
            finally:
                await conn.close()
    finally:
        await pg.stop()
        pg.remove()
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]
    assert errors == [], errors
    waits = [r.getMessage() for r in caplog.records if "stored offsets of group" in r.getMessage()]
    # One line when the wait starts and one when it ends, per group.
    assert 2 <= len(waits) <= 4, waits
