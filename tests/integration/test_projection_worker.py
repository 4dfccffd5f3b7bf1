"""The projection worker on the real broker and database: dead letters, replay (workers
SIGKILLed during 100,000 events: `test_outage_rebalance_workers.py`)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from streams.projections import dump_tables, reference_tables, rows_from_images
from streams.projections.consumer import ProjectionConsumer
from streams.projections.lag import projection_lag
from streams.projections.replay import replay
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.conftest import StreamsFactory
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import assert_tables_exact, projections_caught_up
from tests.factories.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def streams_settings(new_streams: StreamsFactory) -> StreamsSettings:
    return await new_streams(batch_size=3000)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _wait_caught_up(settings: StreamsSettings, within: float) -> None:
    caught_up = await eventually(lambda: projections_caught_up(settings), within=within, every=0.5)
    assert caught_up, f"not caught up after {within}s: {await projection_lag(settings)}"


async def test_poison_events_are_dead_lettered_and_the_rest_applied(
    streams_settings: StreamsSettings, pg: asyncpg.Connection
) -> None:
    settings = streams_settings
    names = topic_names(settings)
    events = list(event_stream(300, seed=9))
    values, keys = encoded(events)
    poison = [b"not json at all", b'{"event_type": "contact.merged", "schema_version": 1}']
    await produce(
        settings.kafka_bootstrap_servers,
        names.events,
        [*values[:150], *poison, *values[150:]],
        [*keys[:150], b"loc:x", b"loc:y", *keys[150:]],
    )
    dead_before = _sample("ghl_sync_projection_dead_letters_total", reason="not JSON")
    consumer = ProjectionConsumer(settings)
    task = asyncio.create_task(consumer.run())
    try:
        await _wait_caught_up(settings, within=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert consumer.stats.dead_letters == 2
    assert _sample("ghl_sync_projection_dead_letters_total", reason="not JSON") == dead_before + 1
    for partition in consumer.stats.next_offsets:
        assert _sample("ghl_sync_projection_lag", partition=str(partition)) == 0
    await assert_tables_exact(pg, events)

    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        tps = [TopicPartition(names.events_dead_letters, p) for p in range(6)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        dead = []
        while len(dead) < 2:
            for records in (await reader.getmany(timeout_ms=2000)).values():
                dead.extend(records)
    finally:
        await reader.stop()
    reasons = {r.value: dict(r.headers)["x-dead-letter-reason"].decode() for r in dead}
    assert "not JSON" in reasons[b"not json at all"]
    assert "unknown event_type 'contact.merged'" in reasons[poison[1]]


async def test_replay_rebuilds_tables_identical_to_the_live_ones(
    streams_settings: StreamsSettings, pg: asyncpg.Connection
) -> None:
    settings = streams_settings
    events = list(event_stream(5000, seed=11))
    values, keys = encoded(events)
    await produce(settings.kafka_bootstrap_servers, topic_names(settings).events, values, keys)
    consumer = ProjectionConsumer(settings)
    task = asyncio.create_task(consumer.run())
    try:
        await _wait_caught_up(settings, within=60)
        live = await dump_tables(pg)
        report = await replay(settings)
        more_values, more_keys = encoded(list(event_stream(500, seed=12, prefix="more-")))
        # The live consumer keeps working on the swapped-in tables.
        await produce(settings.kafka_bootstrap_servers, topic_names(settings).events,
                      more_values, more_keys)  # fmt: skip
        await _wait_caught_up(settings, within=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert report.swapped
    assert report.events == len(events)
    assert live == rows_from_images(reference_tables(events).values())
    await assert_tables_exact(pg, events + list(event_stream(500, seed=12, prefix="more-")))
    leftovers = await pg.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1", f"{settings.database_schema}_%"
    )
    assert leftovers == 0
