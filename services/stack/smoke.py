"""A smoke check of a running stack: real messages through Kafka, a real row in PostgreSQL."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = ["run_smoke"]


async def run_smoke(bootstrap: str, database_url: str) -> list[str]:
    """Produce and consume one record on a fresh topic, write and read one row; the findings."""
    findings: list[str] = []
    topic = f"ghl-sync.smoke.{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, b"ping", key=b"smoke")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            record = await consumer.getone()
        finally:
            await consumer.stop()
        if record.value != b"ping":
            raise RuntimeError(f"consumed {record.value!r} instead of b'ping'")
        findings.append(
            f"kafka: produced and consumed one record on {topic} "
            f"(partition {sent.partition}, offset {sent.offset})"
        )
        await admin.delete_topics([topic])
    finally:
        await admin.close()

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE smoke (id int PRIMARY KEY, v text)")
            await conn.execute("INSERT INTO smoke VALUES (1, 'pong')")
            value = await conn.fetchval("SELECT v FROM smoke WHERE id = 1")
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    if value != "pong":
        raise RuntimeError(f"read {value!r} instead of 'pong'")
    findings.append(f"postgres: wrote and read one row; {applied} migration(s) recorded")
    return findings
