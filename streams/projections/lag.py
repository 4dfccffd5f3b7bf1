"""Consumer lag of the projections: how far the tables are behind `ghl.events`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.db.offsets import OffsetTable
from services.platform.connections import kafka_options
from streams.admin import partitions_of
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["PartitionLag", "projection_lag"]


@dataclass(frozen=True)
class PartitionLag:
    """One partition: the log's end, the next offset the projections will apply, the gap."""

    partition: int
    end_offset: int
    next_offset: int

    @property
    def lag(self) -> int:
        """Events in the log not yet in the tables."""
        return max(self.end_offset - self.next_offset, 0)


async def projection_lag(settings: StreamsSettings) -> list[PartitionLag]:
    """Lag per partition, from the broker's end offsets and the offsets stored with the rows."""
    topic = topic_names(settings).events
    partitions = await partitions_of(settings.kafka, topic)
    consumer = AIOKafkaConsumer(**kafka_options(settings.kafka))
    await consumer.start()
    # aiokafka 0.14 fails stop() with CancelledError when its background task has not run
    # once yet; one turn of the loop lets it start.
    await asyncio.sleep(0)
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    finally:
        await consumer.stop()
    conn = await asyncpg.connect(
        settings.database_url.get_secret_value(),
        server_settings={"search_path": settings.database_schema},
    )
    try:
        stored = await OffsetTable("consumer_offsets", settings.projection_consumer).read(
            conn, topic
        )
    finally:
        await conn.close()
    return [PartitionLag(p, ends[TopicPartition(topic, p)], stored.get(p, 0)) for p in partitions]
