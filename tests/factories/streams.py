"""Streams settings for a test: a fresh topic prefix and consumer app id, the test's database
schema, the topics created; how many records a topic holds; whether the projections caught up
and hold exactly what the events say."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from schemas import Event
from streams.admin import ensure_topics
from streams.projections import diff_tables, dump_tables, reference_tables, rows_from_images
from streams.projections.lag import projection_lag
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = [
    "assert_tables_exact",
    "empty_projections",
    "end_offsets",
    "ensure_all_topics",
    "projections_caught_up",
    "streams_env",
    "streams_settings",
]


def streams_settings(
    bootstrap: str, database_url: str, schema: str, **fields: Any
) -> StreamsSettings:
    """`StreamsSettings` on `bootstrap` and `schema`, under a topic prefix and an app id no
    other test uses (`fields` may name them, or any other field)."""
    values = {
        "topic_prefix": f"test-{uuid.uuid4().hex[:10]}.",
        "app_id": f"test-{uuid.uuid4().hex[:8]}",
        **fields,
    }
    return StreamsSettings(
        kafka_bootstrap_servers=bootstrap,
        database_url=SecretStr(database_url),
        database_schema=schema,
        **values,
    )


def streams_env(settings: StreamsSettings) -> dict[str, str]:
    """The `GHL_SYNC_STREAMS_*` variables that point a child process (a `ghl-sync worker`, a
    projection consumer) at `settings`' broker, topics, consumer group and schema."""
    return {
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": settings.topic_prefix,
        "GHL_SYNC_STREAMS_APP_ID": settings.app_id,
        "GHL_SYNC_STREAMS_DATABASE_URL": settings.database_url.get_secret_value(),
        "GHL_SYNC_STREAMS_DATABASE_SCHEMA": settings.database_schema,
    }


async def ensure_all_topics(settings: StreamsSettings, partitions: int | None = None) -> None:
    """Create every topic of `settings` (`partitions` each, default its `topic_partitions`)."""
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        topic_names(settings).all(),
        partitions=partitions or settings.topic_partitions,
    )


async def end_offsets(bootstrap: str, topic: str, partitions: int = 3) -> int:
    """Records ever written to `topic` (its `partitions` partitions' end offsets, summed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def empty_projections(conn: asyncpg.Connection) -> None:
    """Empty every table the projection store writes: the four entity tables, the stored
    offsets and the applied batches."""
    await conn.execute(
        "TRUNCATE contacts, tasks, notes, appointments, consumer_offsets, applied_batches"
    )


async def projections_caught_up(settings: StreamsSettings, total: int | None = None) -> bool:
    """Whether the projections' stored offsets are at the end of every partition of the events
    topic (and, given `total`, the partitions hold that many events)."""
    lags = await projection_lag(settings)
    if total is not None and sum(lag.end_offset for lag in lags) != total:
        return False
    return bool(lags) and all(lag.lag == 0 for lag in lags)


async def assert_tables_exact(conn: asyncpg.Connection, events: list[Event], **names: str) -> None:
    """The projection tables on `conn` hold exactly what `events` make of them (`names`: the
    `left_name` / `right_name` of the difference shown when they do not)."""
    expected = rows_from_images(reference_tables(events).values())
    differences = diff_tables(await dump_tables(conn), expected, **names)
    assert differences == [], differences
