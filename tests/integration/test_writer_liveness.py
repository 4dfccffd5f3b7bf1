"""The writer's two liveness bounds, against the real broker: a reader (the batch consumer)
that fetches no record while commands wait on the topic counts as stalled, and a publish
Kafka does not confirm in time ends the connected period (`services.writer._runtime`).

Both were seen after a broker restart: a writer stayed ready, kept saving its offsets, and
applied nothing for over a minute while the API went on accepting commands. The process's
outage policy turns either error into a reconnect with new clients, resuming from state.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import cast

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError

from schemas import CreateTask
from services.ghl import GhlClient
from services.platform.batch_consumer import BatchConsumer, ConsumerGroupSettings, ReadStalled
from services.writer._runtime import Writer
from services.writer.settings import WriterSettings
from streams.admin import ensure_topics

pytestmark = pytest.mark.integration


def _writer(bootstrap: str, *, publish_timeout_seconds: float = 30.0) -> Writer:
    # Neither check reaches GHL or PostgreSQL: the writer is built without them.
    return Writer(
        WriterSettings(
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=f"liveness-{uuid.uuid4().hex[:8]}.",
            publish_timeout_seconds=publish_timeout_seconds,
        ),
        client=cast(GhlClient, None),
        pool=cast(asyncpg.Pool, None),
    )


async def _known(producer: AIOKafkaProducer, topic: str) -> None:
    """Wait until the broker's metadata names the new topic (slow on a busy broker)."""
    for _ in range(120):
        if await producer.partitions_for(topic):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"topic {topic} never appeared in the metadata")


async def test_a_reader_that_fetches_nothing_while_commands_wait_is_stalled(
    kafka_bootstrap: str,
) -> None:
    writer = _writer(kafka_bootstrap)
    topic = writer.topics.commands
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    tp = TopicPartition(topic, 0)
    # The writer's reader: the batch consumer given the partition, no group.
    reader = BatchConsumer(
        ConsumerGroupSettings(
            bootstrap_servers=kafka_bootstrap, group_id=None, topics=(topic,), offsets="sink",
            partitions=(tp,), stall_seconds=20,
        ),
        writer,
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        await _known(producer, topic)
        for n in range(3):
            await producer.send_and_wait(topic, f"command {n}".encode(), partition=0)
        consumer.assign([tp])
        consumer.seek(tp, 0)  # positioned, never fetched: what a stalled client looks like
        with pytest.raises(ReadStalled, match="nothing fetched for 21s although 3 records wait"):
            await reader._check_stalled(consumer, 21.0)
        assert issubclass(ReadStalled, KafkaError)  # the outage policy reconnects on it
        # At the log's end, an idle reader with nothing waiting is not stalled.
        consumer.seek(tp, 3)
        await reader._check_stalled(consumer, 21.0)
    finally:
        await consumer.stop()
        await producer.stop()


async def test_a_publish_kafka_does_not_confirm_in_time_raises_a_kafka_timeout(
    kafka_bootstrap: str,
) -> None:
    writer = _writer(kafka_bootstrap, publish_timeout_seconds=0.05)
    await ensure_topics(kafka_bootstrap, [writer.topics.command_results], partitions=1)
    # The batch waits 1 s before it is even sent: no confirmation can come within 0.05 s.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=1000)
    await producer.start()
    try:
        writer._producer = producer
        command = CreateTask(
            command_id=f"cmd-{uuid.uuid4().hex}", location_id="loc", contact_id="c1",
            payload={"title": "Call", "dueDate": "2026-05-01T10:00:00Z"},
        )  # fmt: skip
        with pytest.raises(
            KafkaTimeoutError, match=r"did not confirm command cmd-\w+'s result within 0\.05s"
        ):
            await writer._publish(command, None, '{"state": "succeeded"}', [], "succeeded", None)
    finally:
        await producer.stop()
