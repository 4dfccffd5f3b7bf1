"""The broker serves a Faust app end to end: topics, consumer group, table changelog."""

from __future__ import annotations

import asyncio
import uuid

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.app import create_app
from streams.settings import StreamsSettings

pytestmark = pytest.mark.integration


async def test_faust_agent_and_table_consume_what_aiokafka_produced(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, new_topic
) -> None:
    source = await new_topic("faust-source", partitions=2)
    app_id = f"test-faust-{uuid.uuid4().hex[:8]}"
    app = create_app(
        StreamsSettings(kafka_bootstrap_servers=kafka_bootstrap, topic_partitions=2),
        app_id=app_id,
    )
    topic = app.topic(
        source,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=2,
    )
    counts = app.Table("counts", default=int, partitions=2)
    seen: list[bytes] = []
    done = asyncio.Event()
    expected = {b"alice": 3, b"bob": 2}

    @app.agent(topic)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for key, value in stream.items():
            counts[key.decode()] += 1
            seen.append(value)
            if len(seen) == sum(expected.values()):
                done.set()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, n in expected.items():
            for i in range(n):
                await producer.send_and_wait(source, f"{key.decode()}-{i}".encode(), key=key)
    finally:
        await producer.stop()

    await app.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=60)
        assert sorted(seen) == [b"alice-0", b"alice-1", b"alice-2", b"bob-0", b"bob-1"]
        assert dict(counts.items()) == {"alice": 3, "bob": 2}
        # Let the consumer commit before checking the group's offsets.
        await asyncio.sleep(0)
        await app.consumer.commit()
    finally:
        await app.stop()

    # The consumer group committed past every record it processed.
    offsets = await kafka_admin.list_consumer_group_offsets(app_id)
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == source}
    assert sum(committed.values()) == sum(expected.values())

    # The table's changelog topic exists on the broker and holds the final counts.
    changelog = f"{app_id}-counts-changelog"
    assert changelog in await kafka_admin.list_topics()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(changelog, p) for p in range(2)]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        latest: dict[bytes, bytes] = {}
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    assert record.key is not None
                    assert record.value is not None
                    latest[record.key] = record.value
    finally:
        await consumer.stop()
    assert {k.decode(): int(v) for k, v in latest.items()} == {'"alice"': 3, '"bob"': 2}
    await kafka_admin.delete_topics(
        [t for t in await kafka_admin.list_topics() if t.startswith(app_id)]
    )
