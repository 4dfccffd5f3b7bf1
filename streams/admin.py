"""Creating ghl-sync's topics explicitly, with their partitions, retention and durability.

Topics get `GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR` copies and that
`min.insync.replicas` (`GHL_SYNC_KAFKA_TOPIC_MIN_INSYNC_REPLICAS`). A topic is never created
with fewer copies than asked: when the cluster has fewer brokers than the replication factor,
`ensure_topics` raises `ValueError` naming the variable instead of letting the broker decide.

`LogReader` reads a topic from its beginning up to given ends, without a consumer group: what
rebuilding a projection from the whole log needs.

    reader = LogReader(bootstrap, topic)
    ends = await reader.start()                  # {partition: log end when it started}
    while records := await reader.read_until(ends, 5000):
        ...
    await reader.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.platform.connections import KafkaSettings, kafka_options

__all__ = ["FOREVER", "LogReader", "ensure_topics", "partitions_of"]

log = logging.getLogger(__name__)

FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
"""Topic settings of a log that is never compacted or expired."""


async def ensure_topics(
    kafka: KafkaSettings | str,
    names: list[str],
    *,
    partitions: int,
    config: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    `kafka` is the composed `KafkaSettings` (security and topic durability included), or a
    bare bootstrap string for a PLAINTEXT broker with one copy of each topic (tests, local
    tools). Existing topics are left alone: their partition count is part of their keys'
    placement and is never changed behind a running deployment's back; one with fewer copies
    than asked is logged.
    """
    settings = kafka if isinstance(kafka, KafkaSettings) else None
    replicas = settings.topic_replication_factor if settings else 1
    min_insync = settings.topic_min_insync_replicas if settings else 1
    admin = AIOKafkaAdminClient(**kafka_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            brokers = len((await admin.describe_cluster())["brokers"])
            if brokers < replicas:
                # Worded so the CLI's one-line error names the variable (diagnose.explain).
                raise ValueError(
                    f"cannot create topic {missing[0]} with {replicas} replicas: the topic "
                    f"replication factor (GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR={replicas}) "
                    f"needs {replicas} brokers and the cluster has {brokers}; add brokers or "
                    "lower the setting"
                )
            topic_config = {"min.insync.replicas": str(min_insync), **(config or FOREVER)}
            # Another process may create them first: that is the outcome wanted.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            num_partitions=partitions,
                            replication_factor=replicas,
                            topic_configs=dict(topic_config),
                        )
                        for n in missing
                    ]
                )
            await _leaders_elected(admin, missing)
        kept = [n for n in names if n in existing]
        if kept and replicas > 1:
            for described in await admin.describe_topics(kept):
                fewest = min((len(p["replicas"]) for p in described["partitions"]), default=0)
                if described["error_code"] == 0 and fewest < replicas:
                    log.warning(
                        "topic %s has %d replicas, fewer than "
                        "GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR=%d; reassign its partitions "
                        "to make it as durable as asked",
                        described["topic"],
                        fewest,
                        replicas,
                    )
        return missing
    finally:
        await admin.close()


async def partitions_of(kafka: KafkaSettings | str, topic: str) -> list[int]:
    """The partition numbers of `topic` ([] when it does not exist)."""
    admin = AIOKafkaAdminClient(**kafka_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        p["partition"] for d in described if d["error_code"] == 0 for p in d["partitions"]
    )


async def _leaders_elected(
    admin: AIOKafkaAdminClient, names: list[str], *, within: float = 30.0
) -> None:
    """Wait until every partition of `names` has a leader (a created topic's leaders are
    elected a moment later): a consumer that asks for offsets sooner gets
    `NotLeaderForPartitionError`, which aiokafka logs as an error. Bounded: past `within`
    the topics are used as they are, and clients retry."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        described = await admin.describe_topics(names)
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.1)
    log.warning("topics %s still have partitions without a leader after %.0fs", names, within)


class LogReader:
    """Reads `topic` (only the partitions in `only`, if given) from offset zero."""

    def __init__(
        self, bootstrap: KafkaSettings | str, topic: str, only: Iterable[int] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.only = None if only is None else frozenset(only)
        self.consumer = AIOKafkaConsumer(
            **kafka_options(
                bootstrap,
                enable_auto_commit=False,
                max_partition_fetch_bytes=4 << 20,
                fetch_max_bytes=16 << 20,
            )
        )
        self.partitions: list[TopicPartition] = []

    async def start(self) -> dict[int, int]:
        """Assign the partitions at their beginning; returns each one's log end now."""
        numbers = await partitions_of(self.bootstrap, self.topic)
        if not numbers:
            raise RuntimeError(f"topic {self.topic} does not exist")
        await self.consumer.start()
        mine = sorted(p for p in numbers if self.only is None or p in self.only)
        self.partitions = [TopicPartition(self.topic, p) for p in mine]
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)
        ends = await self.consumer.end_offsets(self.partitions)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def read_until(self, ends: Mapping[int, int], max_records: int) -> list[Any]:
        """Up to `max_records` records below `ends` (a partition it omits: nothing), as the
        client returns them; [] only once every partition reached its end. A partition stays
        positioned at its end, not past what was fetched beyond it."""
        while True:
            pending = [
                tp
                for tp in self.partitions
                if await self.consumer.position(tp) < ends.get(tp.partition, 0)
            ]
            if not pending:
                return []
            fetched = await self.consumer.getmany(
                *pending, timeout_ms=1000, max_records=max_records
            )
            records: list[Any] = []
            for tp, batch in fetched.items():
                end = ends[tp.partition]
                records.extend(r for r in batch if r.offset < end)
                if batch and batch[-1].offset >= end:
                    # The records at or past `end` are left unread: a later call with
                    # higher ends (a catch-up) reads them from there.
                    self.consumer.seek(tp, end)
            if records:
                return records

    async def stop(self) -> None:
        await self.consumer.stop()
