"""The projection consumer: `ghl.events` → PostgreSQL, in batches, offsets stored with rows.

It reads with its own aiokafka consumer (hosted by the Faust worker) instead of a Faust
agent, for two reasons measured while building it: a Faust stream costs ~80 µs per event,
capping the projection at ~8,000 events/s, and Faust acknowledges a `take_events` batch even
when the loop body raised. Here the offsets in PostgreSQL are the only truth: on every
assignment the consumer seeks to them, so nothing is skipped whatever Kafka's committed
offsets say, and the store skips what is below them, so nothing is applied twice. Kafka
offsets are committed after each batch only so that standard tools show the lag.

Decoding batch N+1 overlaps with PostgreSQL executing batch N (one prepared batch waits
in a queue of one), which keeps both the Python process and the database busy.

Failure policy:
- bad data (an event that does not decode): dead-lettered with its reason, the batch goes on;
- lost database or broker connections: the batch is retried with backoff until it applies;
- anything else is a bug: the error propagates and stops the worker; after a restart the
  consumer seeks to the stored offsets and retries the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from streams.projections import metrics
from streams.projections.store import (
    BatchOutcome,
    ConsumedRecord,
    DeadLetter,
    PreparedBatch,
    ProjectionStore,
)
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["ConsumerStats", "ProjectionConsumer"]

log = logging.getLogger(__name__)

_TRANSIENT = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    KafkaError,
    TimeoutError,
)


@dataclass
class ConsumerStats:
    """Running totals, for metrics and status."""

    batches: int = 0
    applied: int = 0
    skipped: int = 0
    dead_letters: int = 0
    retries: int = 0
    last_batch_seconds: float = 0.0
    next_offsets: dict[int, int] = field(default_factory=dict)


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: ProjectionConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Nothing to save: every applied batch already stored its offsets.
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner._seek_to_stored(assigned)


class ProjectionConsumer:
    """Consumes `ghl.events` and applies it to the projection tables until stopped."""

    def __init__(self, settings: StreamsSettings, *, group_id: str | None = None) -> None:
        self._s = settings
        self.topics = topic_names(settings)
        self.store = ProjectionStore(settings.projection_consumer)
        self.stats = ConsumerStats()
        self._group_id = group_id or f"{settings.app_id}-projections"
        self._pool: asyncpg.Pool | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    async def run(self) -> None:
        """Consume until cancelled."""
        self._pool = await asyncpg.create_pool(
            self._s.database_url.get_secret_value(),
            min_size=1,
            max_size=2,
            server_settings={"search_path": self._s.database_schema},
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._s.kafka_bootstrap_servers, acks="all", enable_idempotence=True
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._s.kafka_bootstrap_servers,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 << 20,
            fetch_max_bytes=16 << 20,
            # A worker killed without leaving the group holds its partitions until its session
            # expires; the broker's minimum keeps that wait short.
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
        )
        self._consumer.subscribe([self.topics.events], listener=_SeekToStored(self))
        await self._producer.start()
        await self._consumer.start()
        prepared: asyncio.Queue[PreparedBatch] = asyncio.Queue(maxsize=1)
        reader = asyncio.create_task(self._read(prepared), name="projections-read")
        try:
            while True:
                batch_task = asyncio.create_task(prepared.get())
                done, _ = await asyncio.wait(
                    {batch_task, reader}, return_when=asyncio.FIRST_COMPLETED
                )
                if reader in done:
                    batch_task.cancel()
                    reader.result()  # re-raises what stopped the reader
                    return
                await self._apply_until_done(batch_task.result())
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._consumer.stop()
            await self._producer.stop()
            await self._pool.close()

    async def _read(self, prepared: asyncio.Queue[PreparedBatch]) -> None:
        assert self._consumer is not None
        while True:
            fetched = await self._consumer.getmany(
                timeout_ms=int(self._s.batch_wait * 1000), max_records=self._s.batch_size
            )
            records = [
                ConsumedRecord(r.topic, r.partition, r.offset, r.value, r.key)
                for batch in fetched.values()
                for r in batch
            ]
            if records:
                await prepared.put(self.store.prepare(records))

    async def _seek_to_stored(self, assigned: set[TopicPartition]) -> None:
        assert self._pool is not None
        assert self._consumer is not None
        async with self._pool.acquire() as conn:
            stored = await self.store.stored_offsets(conn, self.topics.events)
        for tp in assigned:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
        log.info(
            "projections assigned %s; resuming at stored offsets %s",
            sorted(tp.partition for tp in assigned),
            {p: o for p, o in sorted(stored.items()) if any(tp.partition == p for tp in assigned)},
        )

    async def _send_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        assert self._producer is not None
        for letter in letters:
            r = letter.record
            log.error(
                "dead-lettered event topic=%s partition=%d offset=%d event_type=%s reason=%s",
                r.topic, r.partition, r.offset, letter.event_type, letter.reason,
            )  # fmt: skip
            await self._producer.send_and_wait(
                self.topics.events_dead_letters,
                value=r.value or b"",
                key=r.key,
                headers=[
                    ("x-dead-letter-reason", letter.reason.encode()),
                    ("x-source-topic", r.topic.encode()),
                    ("x-source-partition", str(r.partition).encode()),
                    ("x-source-offset", str(r.offset).encode()),
                ],
            )

    async def _apply_until_done(self, batch: PreparedBatch) -> BatchOutcome:
        assert self._pool is not None
        assert self._consumer is not None
        delay, first, records = 0.1, batch.records[0], batch.records
        while True:
            started = time.perf_counter()
            try:
                async with self._pool.acquire() as conn:
                    outcome = await self.store.apply(
                        conn, batch, dead_letters=self._send_dead_letters
                    )
            except _TRANSIENT as exc:
                self.stats.retries += 1
                metrics.RETRIES.inc()
                log.warning(
                    "projection batch failed, retrying in %.1fs: topic=%s partition=%d "
                    "offset=%d events=%d error=%s",
                    delay, first.topic, first.partition, first.offset, len(records), exc,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._s.retry_backoff_max)
                continue
            break
        self._account(outcome, time.perf_counter() - started)
        try:
            await self._consumer.commit(
                {
                    TopicPartition(topic, partition): offset
                    for (topic, partition), offset in outcome.next_offsets.items()
                }
            )
        except KafkaError as exc:
            # Only lag reporting depends on it; PostgreSQL holds the offsets that matter.
            log.warning("could not commit projection offsets to Kafka: %s", exc)
        return outcome

    def _account(self, outcome: BatchOutcome, seconds: float) -> None:
        s = self.stats
        s.batches += 1
        s.applied += outcome.applied
        s.skipped += outcome.skipped
        s.dead_letters += len(outcome.dead_letters)
        s.last_batch_seconds = seconds
        metrics.APPLIED.inc(outcome.applied)
        metrics.SKIPPED.inc(outcome.skipped)
        metrics.BATCH_SECONDS.observe(seconds)
        for letter in outcome.dead_letters:
            # The label is the reason's first words: a bounded set, not one per event.
            metrics.DEAD_LETTERS.labels(reason=letter.reason.split(":")[0][:40]).inc()
        assert self._consumer is not None
        for (topic, partition), offset in outcome.next_offsets.items():
            s.next_offsets[partition] = offset
            high = self._consumer.highwater(TopicPartition(topic, partition))
            if high is not None:
                metrics.LAG.labels(partition=str(partition)).set(max(high - offset, 0))
