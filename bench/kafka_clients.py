"""What reading the events topic costs one process, per record, with two Kafka clients.

The projection worker's one core is its limit (docs/projection-tuning.md), and the Kafka
client is about an eighth of it. This reads the benchmark mix (`tests.factories`) from a
fresh 6-partition topic with aiokafka (what ghl-sync uses) and with confluent-kafka
(librdkafka, which fetches and parses in threads of its own), batches of 5,000 as the
worker takes them, and reports the CPU per record of the whole process and of the thread
that reads (the one a worker decodes on). confluent-kafka is not a ghl-sync dependency:

    .venv/bin/pip install confluent-kafka
    .venv/bin/python bench/kafka_clients.py [--events 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import delete_topic
from tests.factories import encoded, event_stream

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
PARTITIONS = 6
BATCH = 5000


async def _produce(topic: str, events: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    values, keys = encoded(list(event_stream(events)))
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        sent = [await producer.send(topic, v, key=k) for v, k in zip(values, keys, strict=True)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return len(values)


async def _aiokafka(topic: str, total: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,  # the worker's (ConsumerGroupSettings)
        fetch_max_bytes=16 << 20,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        read = 0
        while read < total:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            for records in fetched.values():
                for record in records:
                    _ = record.value
                read += len(records)
    finally:
        await consumer.stop()


def _confluent(topic: str, total: int) -> None:
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as Partition

    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"bench-{topic}",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": 4 << 20,
            "fetch.max.bytes": 16 << 20,
        }
    )
    try:
        consumer.assign([Partition(topic, p, 0) for p in range(PARTITIONS)])
        read = 0
        while read < total:
            messages = consumer.consume(BATCH, 1.0)
            for message in messages:
                _ = message.value()
            read += len(messages)
    finally:
        consumer.close()


def _measure(name: str, run: int, total: int, read: Callable[[], None]) -> None:
    started, process, thread = time.perf_counter(), time.process_time(), time.thread_time()
    read()
    wall = time.perf_counter() - started
    per = {
        "process": (time.process_time() - process) / total * 1e6,
        "reading thread": (time.thread_time() - thread) / total * 1e6,
    }
    print(
        f"run {run} {name:<15} {total / wall:>11,.0f} records/s  CPU per record: "
        + ", ".join(f"{k} {v:.2f} us" for k, v in per.items())
        + f"  (loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    topic = f"bench-clients-{uuid.uuid4().hex[:8]}"
    total = asyncio.run(_produce(topic, args.events))
    print(f"{total:,} records of the benchmark mix on {topic}", flush=True)
    try:
        for run in range(1, args.runs + 1):
            _measure("aiokafka", run, total, lambda: asyncio.run(_aiokafka(topic, total)))
            _measure("confluent-kafka", run, total, lambda: _confluent(topic, total))
    finally:
        asyncio.run(delete_topic(BOOTSTRAP, topic))


if __name__ == "__main__":
    main()
