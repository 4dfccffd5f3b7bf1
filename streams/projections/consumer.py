"""The projection consumer: `ghl.events` → PostgreSQL, in batches, offsets stored with rows.

It is a sink of the platform's `BatchConsumer` (hosted by the Faust worker) instead of a Faust
agent, for two reasons measured while building it: a Faust stream costs ~80 µs per event,
capping the projection at ~8,000 events/s, and Faust acknowledges a `take_events` batch even
when the loop body raised. The offsets in PostgreSQL are the only truth (`offsets="sink"`):
on every assignment the consumer seeks to them, so nothing is skipped whatever Kafka's
committed offsets say, and the store skips what is below them, so nothing is applied twice
(which also makes a batch still queued for a partition that just moved harmless). Kafka
offsets are committed after each batch only so that standard tools show the lag.

Decoding batch N+1 overlaps with PostgreSQL executing batch N (one prepared batch waits in
a queue of one; the reader waits for room, and only a queue that stays full, or PostgreSQL
away, is backpressure), which keeps both the Python process and the database busy.

Failure policy:
- bad data (an event that does not decode): dead-lettered with its reason, the batch goes on;
- lost database or broker connections: the batch is retried with backoff until it applies (a
  lost PostgreSQL is logged once when it goes and once when it is back, `services.platform.outage`);
- anything else is a bug: the error propagates and stops the worker; after a restart the
  consumer seeks to the stored offsets and retries the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.topics import GROUP_PROJECTIONS, consumer_group
from services.platform import (
    Backpressure,
    BatchConsumer,
    SinkStats,
    send_dead_letter,
)
from services.platform.connections import kafka_options
from services.platform.outage import (
    DATABASE_ERRORS,
    Backoff,
    Dependency,
    database_outage,
    kafka_client_options,
)
from streams.projections import metrics
from streams.projections._gc import collect_batch_garbage, pace_collector
from streams.projections.store import (
    BatchOutcome,
    DeadLetter,
    PreparedBatch,
    ProjectionStore,
)
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["ROOM_WAIT", "ConsumerStats", "ProjectionConsumer"]

log = logging.getLogger(__name__)

_TRANSIENT = (*DATABASE_ERRORS, KafkaError)

ROOM_WAIT = 2.0
"""Seconds `write` waits for the prepared batch to be taken before it refuses (pauses)."""


@dataclass
class ConsumerStats(SinkStats):
    """Running totals, for metrics and status."""

    batches: int = 0
    applied: int = 0
    last_batch_seconds: float = 0.0
    next_offsets: dict[int, int] = field(default_factory=dict)


class ProjectionConsumer:
    """Consumes `ghl.events` and applies it to the projection tables until stopped."""

    def __init__(self, settings: StreamsSettings, *, group_id: str | None = None) -> None:
        self._s = settings
        self.topics = topic_names(settings)
        self.store = ProjectionStore(settings.projection_consumer)
        self.stats = ConsumerStats()
        self._group_id = group_id or consumer_group(settings.app_id, GROUP_PROJECTIONS)
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._prepared: asyncio.Queue[PreparedBatch] = asyncio.Queue(maxsize=1)
        self._room = asyncio.Event()
        """Set when the applier takes the prepared batch (the queue has room again)."""
        self._confirmed: dict[TopicPartition, int] = {}
        self._consumer: BatchConsumer | None = None
        # The policy's pace (a try at most every 5 s), or the configured longest pause if shorter.
        self.postgres = Dependency(
            "postgres", log=log, backoff=Backoff(cap=min(5.0, settings.retry_backoff_max))
        )
        """PostgreSQL as this consumer saw it last (an outage is logged once, when it goes)."""

    @property
    def consumer(self) -> BatchConsumer | None:
        """The batch consumer while running."""
        return self._consumer

    async def run(self) -> None:
        """Consume until cancelled."""
        pace_collector()
        self._pool = await self.postgres.wait_for(
            lambda: asyncpg.create_pool(
                self._s.database_url.get_secret_value(),
                # No floor: asyncpg would restore one during an outage, a traceback per try.
                min_size=0,
                max_size=2,
                server_settings={"search_path": self._s.database_schema},
            ),
            retry_on=database_outage,
        )
        self._producer = AIOKafkaProducer(
            **kafka_options(self._s.kafka),
            acks="all",
            enable_idempotence=True,
            **kafka_client_options(),
        )
        self._consumer = BatchConsumer(
            self._s.event_log_group(self._group_id, self.topics.events),
            self,
        )
        await self._producer.start()
        reading = asyncio.create_task(self._consumer.run(), name="projections-read")
        try:
            while True:
                batch_task = asyncio.create_task(self._prepared.get())
                done, _ = await asyncio.wait(
                    {batch_task, reading}, return_when=asyncio.FIRST_COMPLETED
                )
                if reading in done:
                    batch_task.cancel()
                    reading.result()  # re-raises what stopped the reader
                    return
                batch = batch_task.result()
                self._room.set()
                await self._apply_until_done(batch)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await self._producer.stop()
            await self._pool.close()

    # -- the Sink protocol of the batch consumer ---------------------------------------------

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        """The offsets stored with the rows for `partitions`."""
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            stored = await self.store.stored_offsets(conn, self.topics.events)
        resume = {tp: stored[tp.partition] for tp in partitions if tp.partition in stored}
        log.info(
            "projections assigned %s; resuming at stored offsets %s",
            sorted(tp.partition for tp in partitions),
            {tp.partition: o for tp, o in sorted(resume.items())},
        )
        return resume

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Nothing to save: every applied batch already stored its offsets."""
        for tp in partitions:
            self._confirmed.pop(tp, None)

    async def write(self, records: Sequence[Any]) -> None:
        """Decode the batch and queue it for the database (one batch may wait).

        While a prepared batch waits for the one being applied, this waits for it to be
        taken, up to `ROOM_WAIT` seconds, instead of refusing at once: a refusal pauses the
        partitions, and the Kafka client drops what it fetched ahead for paused partitions,
        to fetch it again after (waiting instead measured 2.25-2.54 worker CPU-s per 100,000
        events against 2.79-3.10, in bench/vs_connect.py). Beyond that, or while PostgreSQL
        is away (the applier is backing off), it refuses and the batch consumer pauses.
        """
        while self._prepared.full():
            if not self.postgres.up:
                raise Backpressure("PostgreSQL is unavailable", retry_after=0.5)
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), ROOM_WAIT)
            except TimeoutError:
                raise Backpressure(
                    "a prepared batch is waiting for PostgreSQL", retry_after=0.02
                ) from None
        await self._prepared.put(await self.store.prepare_in_steps(records))

    def confirmed(self) -> Mapping[TopicPartition, int]:
        """The offsets of the last applied batches."""
        return self._confirmed

    # -- applying ----------------------------------------------------------------------------

    async def _send_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        assert self._producer is not None
        for letter in letters:
            r = letter.record
            log.error(
                "dead-lettered event topic=%s partition=%d offset=%d event_type=%s reason=%s",
                r.topic, r.partition, r.offset, letter.event_type, letter.reason,
            )  # fmt: skip
            future = await send_dead_letter(
                self._producer, self.topics.events_dead_letters, r, letter.reason
            )
            await future

    async def _apply_until_done(self, batch: PreparedBatch) -> BatchOutcome:
        assert self._pool is not None
        first, records = batch.records[0], batch.records
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
                if database_outage(exc):
                    self.postgres.lost(exc)  # one line per outage
                else:  # Kafka refused a dead letter
                    log.warning(
                        "projection batch failed, retrying with backoff: topic=%s partition=%d "
                        "offset=%d events=%d error=%s",
                        first.topic, first.partition, first.offset, len(records), exc,
                    )  # fmt: skip
                await self.postgres.pause()
                continue
            self.postgres.restored()
            break
        for (topic, partition), offset in outcome.next_offsets.items():
            tp = TopicPartition(topic, partition)
            self._confirmed[tp] = max(offset, self._confirmed.get(tp, 0))
        self._account(outcome, time.perf_counter() - started)
        collect_batch_garbage()
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
        for (_topic, partition), offset in outcome.next_offsets.items():
            s.next_offsets[partition] = offset
        # Only partitions held right now: a partition revoked while this batch was applied
        # has no highwater any more (aiokafka asserts on it).
        highs = self._consumer.highwater() if self._consumer is not None else {}
        for tp, high in highs.items():
            done = s.next_offsets.get(tp.partition)
            if done is not None:
                metrics.LAG.labels(partition=str(tp.partition)).set(max(high - done, 0))
