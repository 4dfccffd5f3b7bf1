"""What `status` reads from Kafka: partitions, log ends and starts, group offsets, the raw tail.

Read-only: a consumer without a group (nothing is committed) and the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.platform.connections import KafkaSettings, kafka_options

__all__ = ["BrokerSnapshot", "read_broker"]


@dataclass(frozen=True)
class BrokerSnapshot:
    """Per existing topic its partitions; per partition its first and end offsets."""

    partitions: Mapping[str, tuple[int, ...]]
    beginnings: Mapping[tuple[str, int], int]
    ends: Mapping[tuple[str, int], int]
    group_offsets: Mapping[str, Mapping[tuple[str, int], int]]
    """Consumer group -> (topic, partition) -> committed next offset."""
    last_seen: Mapping[str, datetime]
    """Location -> newest record time in the scanned tail of the webhook topic."""


@contextlib.asynccontextmanager
async def _admin(bootstrap: KafkaSettings | str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap, request_timeout_ms=10_000))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def _consumer(bootstrap: KafkaSettings | str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(**kafka_options(bootstrap, enable_auto_commit=False))
    await consumer.start()
    # aiokafka 0.14 fails stop() with CancelledError when its background task has not run
    # once yet; one turn of the loop lets it start.
    await asyncio.sleep(0)
    try:
        yield consumer
    finally:
        await consumer.stop()


def _location_of(key: bytes | None) -> str | None:
    """The location of a raw record from its key (`{location}:{entity}` or `{location}`)."""
    if not key:
        return None
    location = key.decode("utf-8", "replace").split(":", 1)[0]
    return None if location in ("", "unknown") else location


async def _scan_tail(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    per_partition: int,
) -> dict[str, datetime]:
    wanted = [tp for tp in tps if ends[tp] > beginnings[tp]]
    if not wanted or per_partition <= 0:
        return {}
    consumer.assign(wanted)
    for tp in wanted:
        consumer.seek(tp, max(ends[tp] - per_partition, beginnings[tp]))
    newest: dict[str, int] = {}
    pending = set(wanted)
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=2_000)
        if not batches:
            break  # the broker gave nothing more within the timeout: report what was read
        for tp, records in batches.items():
            for record in records:
                location = _location_of(record.key)
                if location is not None:
                    newest[location] = max(newest.get(location, 0), record.timestamp)
            if records and records[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    return {loc: datetime.fromtimestamp(ms / 1000, UTC) for loc, ms in newest.items()}


async def read_broker(
    bootstrap: KafkaSettings | str,
    topics: Iterable[str],
    *,
    groups: Mapping[str, str],
    webhook_topic: str,
    scan_per_partition: int,
) -> BrokerSnapshot:
    """Offsets of `topics` (those that exist), committed offsets of `groups` (group -> topic),
    and the last delivery per location among the newest records of `webhook_topic`."""
    names = list(dict.fromkeys(topics))
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([n for n in names if n in existing])
        committed: dict[str, dict[tuple[str, int], int]] = {}
        for group, topic in groups.items():
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if tp.topic == topic and meta.offset >= 0
            }
    partitions = {
        d["topic"]: tuple(sorted(p["partition"] for p in d["partitions"]))
        for d in described
        if d["error_code"] == 0
    }
    tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
    async with _consumer(bootstrap) as consumer:
        beginnings = await consumer.beginning_offsets(tps) if tps else {}
        ends = await consumer.end_offsets(tps) if tps else {}
        last_seen = await _scan_tail(
            consumer,
            [tp for tp in tps if tp.topic == webhook_topic],
            beginnings,
            ends,
            scan_per_partition,
        )
    return BrokerSnapshot(
        partitions=partitions,
        beginnings={(tp.topic, tp.partition): o for tp, o in beginnings.items()},
        ends={(tp.topic, tp.partition): o for tp, o in ends.items()},
        group_offsets=committed,
        last_seen=last_seen,
    )
