"""`Writer`: reads the commands topic, applies each contact's commands in order, publishes.

Reading. The writer takes its partitions of the commands topic by assignment, not by a
consumer group: each partition is held through a PostgreSQL advisory lock on one connection
for the life of the process (a second writer waits; a killed writer's lock dies with its
connection, so a restart resumes at once instead of waiting out a group session). It reads
them through the project's one consumer loop (`services.platform.batch_consumer`, given the
partitions, no group), as the writer's `Sink`: `write` routes a batch into lanes or refuses
it with `Backpressure` while `max_pending` commands are open, `confirmed` is each partition's
lowest unfinished offset. The next offset per partition is kept in `consumer_offsets`.

Order. Records are routed by key (`location:contact`) into lanes; a lane applies its commands
one after the other, while lanes of other contacts run concurrently (at most
`max_in_flight_per_location` per location at GHL). The saved offset of a partition is its
lowest unfinished record, so a restart reads again only what may be unfinished; command state
in PostgreSQL makes that harmless (a terminal command is skipped, or only republished).

Failure policy. Bad data (an undecodable command, a reused command id with other content, a
command GHL refuses) goes to the dead-letter topic with the reason. 429, 5xx and timeouts are
retried with capped exponential backoff and jitter, never dropped. A lost database or broker
ends `run()` with the driver's error; `run_writer` (the process) logs it once, waits with
backoff and runs a new `Writer`, which resumes from state (`services.platform.outage`). A bug
ends the process; its supervisor restarts it and it resumes from state the same way.

Liveness. Two bounds keep a connected period from holding commands for ever after a broker
restart (both were seen: the writer stayed ready and applied nothing while the API accepted):
a publish Kafka does not confirm within `publish_timeout_seconds` raises `KafkaTimeoutError`,
and a reader that fetches no record for `stall_seconds` while commands wait on the topic
raises the batch consumer's `ReadStalled`. Both are Kafka errors: the outage policy reconnects
with new clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from schemas import (
    CommandBase,
    CommandDecodeError,
    CommandError,
    CommandResult,
    command_digest,
    command_key,
    dead_letters,
    decode_command,
    encode_event,
)
from schemas.topics import TopicNames
from services.db.commands import CommandRow, WriterStore
from services.ghl import GhlClient
from services.platform.batch_consumer import (
    Backpressure,
    BatchConsumer,
    ConsumerGroupSettings,
    SinkStats,
    dead_letter_headers,
)
from services.platform.connections import kafka_options
from services.platform.outage import kafka_client_options, stop_quietly
from services.writer import _metrics as metrics
from services.writer._apply import Applier
from services.writer._outcome import Outcome
from services.writer.exceptions import Retry
from services.writer.settings import WriterSettings
from streams.admin import ensure_topics, partitions_of

__all__ = ["Writer", "WriterStats", "writer_topics"]

_log = logging.getLogger("services.writer")


def writer_topics(settings: WriterSettings) -> TopicNames:
    """The topic names the writer uses (the streams' names for the same prefix and app)."""
    return settings.topics


@dataclass
class WriterStats(SinkStats):
    """Counters for tests, benchmarks and logs."""

    read: int = 0
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    adopted: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from the command's Kafka timestamp to GHL's answer, per applied command."""


class _Offsets:
    """Per partition: offsets read in order, and which are finished."""

    def __init__(self, start: int) -> None:
        self.next = start
        self.pending: deque[int] = deque()
        self.done: set[int] = set()

    def commit_point(self) -> int:
        while self.pending and self.pending[0] in self.done:
            self.done.discard(self.pending.popleft())
        return self.pending[0] if self.pending else self.next


class Writer:
    """The write-back service; `run()` until cancelled."""

    def __init__(
        self,
        settings: WriterSettings,
        *,
        client: GhlClient,
        pool: asyncpg.Pool,
        on_running: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_running = on_running
        self._pool = pool
        self._store = WriterStore(pool)
        self._applier = Applier(client, self._store, settings)
        self.topics = writer_topics(settings)
        self.stats = WriterStats()
        self._lanes: dict[str, deque[Any]] = {}
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._offsets: dict[int, _Offsets] = {}
        self._location_slots: dict[str, asyncio.Semaphore] = {}
        self._pending = 0
        self._failed = asyncio.Event()
        self._fatal: BaseException | None = None
        self._producer: AIOKafkaProducer | None = None

    @property
    def pending(self) -> int:
        """Commands read and not yet finished."""
        return self._pending

    # -- lifecycle ----------------------------------------------------------------------------

    async def probe_kafka(self) -> bool:
        """Ask the broker for metadata over the producer's connection (raises when it is
        unreachable); False while there is no producer to ask with."""
        producer = self._producer
        if producer is None:
            return False
        await producer.client.fetch_all_metadata()
        return True

    async def run(self) -> None:
        """Read and apply commands until cancelled; raises on a lost database or broker."""
        s = self._settings
        t = self.topics
        await ensure_topics(
            s.kafka,
            [t.commands, t.command_results, t.commands_dead_letters, t.events],
            partitions=s.topic_partitions,
        )
        partitions = s.partitions or await partitions_of(s.kafka, t.commands)
        async with self._pool.acquire() as lock_conn:
            for partition in partitions:
                # Held until this connection closes: one writer per partition at a time.
                await lock_conn.execute(
                    "SELECT pg_advisory_lock($1)", _lock_key(t.commands, partition)
                )
            await self._run_assigned(partitions)

    async def _run_assigned(self, partitions: Sequence[int]) -> None:
        s = self._settings
        topic = self.topics.commands
        producer = AIOKafkaProducer(
            **kafka_options(
                s.kafka, acks="all", enable_idempotence=True, linger_ms=2,
                **kafka_client_options(),
            )
        )  # fmt: skip
        # The project's one consumer loop, reading exactly the partitions locked above.
        reader = BatchConsumer(
            ConsumerGroupSettings(
                bootstrap_servers=s.kafka, group_id=None, topics=(topic,), offsets="sink",
                partitions=tuple(TopicPartition(topic, p) for p in partitions),
                batch_size=2000, batch_wait=0.1, stall_seconds=s.stall_seconds,
            ),
            self,
        )  # fmt: skip
        flusher: asyncio.Task[None] | None = None
        reading: asyncio.Task[None] | None = None
        try:
            await producer.start()
            self._producer = producer
            flusher = asyncio.create_task(self._flush_offsets_forever())
            reading = asyncio.create_task(reader.run())
            reading.add_done_callback(_retrieve)  # even when a lane's error is raised instead
            failed = asyncio.create_task(self._failed.wait())
            try:
                await asyncio.wait({reading, failed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                failed.cancel()
            if self._fatal is not None:
                raise self._fatal  # a lane's error (a lost database or broker, a bug)
            reading.result()  # the reader's error (a lost broker, a stall) ends the period
            raise RuntimeError("the commands reader stopped without an error")
        finally:
            if reading is not None and not reading.done():
                # Bounded: while the broker is away, stopping the consumer can hang.
                reading.cancel()
                await asyncio.wait({reading}, timeout=10)
            if flusher is not None:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await flusher
            for task in list(self._lane_tasks):
                task.cancel()
            await asyncio.gather(*self._lane_tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush_offsets(), 5)
            self._producer = None
            # Bounded: while the broker is away, stopping waits for buffered records to expire.
            await stop_quietly(producer, 10)

    # -- the reader's sink (`services.platform.batch_consumer.Sink`) --------------------------

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Where each partition resumes: its offset in `consumer_offsets` (a partition never
        saved starts at its log's beginning, the consumer's reset)."""
        stored = await self._store.stored_offsets(
            self._settings.consumer_name, self.topics.commands
        )
        resume = {}
        for tp in partitions:
            start = stored.get(tp.partition)
            self._offsets[tp.partition] = _Offsets(-1 if start is None else start)
            if start is not None:
                resume[tp] = start
        if self._on_running is not None:
            self._on_running()
        return resume

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Never called: the partitions are the process's own (advisory locks), not a group's."""

    async def write(self, records: Sequence[Any]) -> None:
        """Route the commands into their contacts' lanes, or refuse while too many are open."""
        if self._pending >= self._settings.max_pending:
            raise Backpressure(f"{self._pending} commands not finished", retry_after=0.5)
        for record in records:
            offsets = self._offsets[record.partition]
            offsets.pending.append(record.offset)
            offsets.next = record.offset + 1
            self._pending += 1
            self.stats.read += 1
            self._route(record)

    def confirmed(self) -> Mapping[TopicPartition, int]:
        """Per partition, the offset below which every command is finished."""
        topic = self.topics.commands
        points = {p: o.commit_point() for p, o in self._offsets.items()}
        return {TopicPartition(topic, p): at for p, at in points.items() if at >= 0}

    def _route(self, record: Any) -> None:
        key = record.key.decode(errors="replace") if record.key else f"p{record.partition}"
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(record)
            return
        self._lanes[key] = deque([record])
        task = asyncio.create_task(self._run_lane(key))
        self._lane_tasks.add(task)
        task.add_done_callback(self._lane_finished)

    def _lane_finished(self, task: asyncio.Task[None]) -> None:
        self._lane_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._fatal is None:
            self._fatal = task.exception()
            self._failed.set()

    async def _run_lane(self, key: str) -> None:
        lane = self._lanes[key]
        while lane:
            record = lane[0]
            await self._process(record)
            lane.popleft()
            self._offsets[record.partition].done.add(record.offset)
            self._pending -= 1
        del self._lanes[key]

    async def _flush_offsets_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.offset_flush_seconds)
            await self._flush_offsets()

    async def _flush_offsets(self) -> None:
        points = {tp.partition: at for tp, at in self.confirmed().items()}
        await self._store.save_offsets(self._settings.consumer_name, self.topics.commands, points)

    # -- one command --------------------------------------------------------------------------

    async def _process(self, record: Any) -> None:
        decoded = decode_command(record.value)
        if isinstance(decoded, CommandDecodeError):
            _log.error(
                "undecodable command on %s partition %d offset %d (command id %s): %s",
                record.topic, record.partition, record.offset, decoded.command_id, decoded.reason,
            )  # fmt: skip
            await self._dead_letter(record, record.key, record.value, "invalid", decoded.reason)
            return
        command: CommandBase = decoded
        digest = command_digest(command)
        slots = self._location_slots.setdefault(
            command.location_id, asyncio.Semaphore(self._settings.max_in_flight_per_location)
        )
        submitted = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        tries = 0
        while True:
            async with slots:
                row = await self._store.claim(
                    command_id=command.command_id,
                    location_id=command.location_id,
                    contact_id=command.target_contact_id,
                    command_type=command.command_type,
                    digest=digest,
                    command_json=record.value.decode(),
                    partition=record.partition,
                    offset=record.offset,
                    submitted_at=submitted,
                )
                if row.digest != digest:
                    reason = f"command id {command.command_id} was already used for another command"
                    _log.error(
                        "%s (partition %d offset %d)", reason, record.partition, record.offset
                    )
                    await self._dead_letter(
                        record, record.key, record.value, "duplicate_id", reason
                    )
                    return
                if row.terminal:
                    self.stats.skipped += 1
                    if not row.published:
                        await self._publish_stored(command, row, record)
                    return
                try:
                    outcome = await self._applier.apply(command, row)
                    break
                except Retry as retry:
                    tries += 1
                    self.stats.retries += 1
                    pause = max(retry.after, self._backoff(tries))
                    _log.warning(
                        "command %s (%s, partition %d offset %d) will be retried in %.1fs: %s",
                        command.command_id, command.command_type, record.partition,
                        record.offset, pause, retry,
                    )  # fmt: skip
            await asyncio.sleep(pause)
        await self._finish(command, record, row, outcome, tries)

    def _backoff(self, tries: int) -> float:
        first, most = self._settings.retry_backoff, self._settings.retry_backoff_max
        cap = min(first * 2.0 ** (tries - 1), most)
        return cap / 2 + random.random() * cap / 2

    async def _finish(
        self, command: CommandBase, record: Any, row: CommandRow, outcome: Outcome, tries: int
    ) -> None:
        attempts = max(row.attempts, 1) + tries
        metrics.COMMANDS.labels(state=outcome.state).inc()
        if outcome.adopted:
            metrics.ADOPTED.inc()
        result = CommandResult(
            command_id=command.command_id,
            command_type=command.command_type,
            location_id=command.location_id,
            contact_id=outcome.contact_id,
            state=outcome.state,
            entity_type=outcome.entity_type,
            entity_id=outcome.entity_id,
            snapshot=outcome.snapshot,
            error=outcome.error,
            conflict=outcome.conflict,
            adopted=outcome.adopted,
            attempts=attempts,
            correlation_id=command.correlation_id or command.command_id,
            completed_at=datetime.now(UTC),
        )
        result_json = result.model_dump_json(exclude_none=True)
        events = [encode_event(e).decode() for e in outcome.events]
        await self._store.finish(
            command.command_id,
            state=outcome.state,
            result_json=result_json,
            events=events,
            contact_id=outcome.contact_id,
            entity_type=outcome.entity_type,
            entity_id=outcome.entity_id,
            attempts=attempts,
            ghl_done_at=outcome.ghl_done_at,
            conflict=outcome.conflict,
        )
        setattr(self.stats, outcome.state, getattr(self.stats, outcome.state) + 1)
        self.stats.adopted += outcome.adopted
        if outcome.ghl_done_at is not None and outcome.state == "succeeded":
            self.stats.latencies.append(max(time.time() - record.timestamp / 1000, 0.0))
        await self._publish(command, record, result_json, events, outcome.state, outcome.error)

    async def _publish_stored(self, command: CommandBase, row: CommandRow, record: Any) -> None:
        assert row.result is not None
        result = CommandResult.model_validate_json(row.result)
        await self._publish(command, record, row.result, row.events, result.state, result.error)

    async def _publish(
        self,
        command: CommandBase,
        record: Any,
        result_json: str,
        events: Sequence[str],
        state: str,
        error: CommandError | None,
    ) -> None:
        producer = self._producer
        assert producer is not None
        key = command_key(command).encode()
        sends: list[asyncio.Future[Any]] = []
        limit = self._settings.publish_timeout_seconds
        try:
            # Bounded: a producer that never confirms (seen after a broker restart) must end
            # this connected period, not hold the lane and the partition's offset for ever.
            async with asyncio.timeout(limit):
                sends.append(
                    await producer.send(self.topics.command_results, result_json.encode(), key=key)
                )
                for event in events:
                    head = json.loads(event)
                    event_key = f"{head['location_id']}:{head['contact_id']}".encode()
                    sends.append(
                        await producer.send(self.topics.events, event.encode(), key=event_key)
                    )
                if state == "failed" and error is not None:
                    dead = command.model_dump_json(exclude_none=True).encode()
                    await self._dead_letter(record, key, dead, error.code, error.message)
                # Every send's outcome is collected (none is left "never retrieved"); the
                # first failure ends this command's lane, and the command is republished after
                # the restart.
                outcomes = await asyncio.gather(*sends, return_exceptions=True)
        except BaseException as exc:
            for sent in sends:  # their outcomes are collected, not left "never retrieved"
                sent.add_done_callback(_retrieve)
            if isinstance(exc, TimeoutError):
                raise KafkaTimeoutError(
                    f"Kafka did not confirm command {command.command_id}'s result within {limit:g}s"
                ) from None
            raise
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await self._store.mark_published([command.command_id])

    async def _dead_letter(
        self, record: Any, key: bytes | None, value: bytes, code: str, reason: str
    ) -> None:
        """Dead-letter `value` (from the command `record`) with the one header set (reason
        and source) and the writer's classification in `x-dead-letter-code`."""
        producer = self._producer
        assert producer is not None
        headers = [
            *dead_letter_headers(record, reason[:1000]),
            (dead_letters.DEAD_LETTER_CODE, code.encode()),
        ]
        sent = producer.send_and_wait(
            self.topics.commands_dead_letters, value, key=key, headers=headers
        )
        try:
            await asyncio.wait_for(sent, self._settings.publish_timeout_seconds)
        except TimeoutError:
            raise KafkaTimeoutError(
                f"Kafka did not confirm a dead letter within "
                f"{self._settings.publish_timeout_seconds:g}s"
            ) from None
        self.stats.dead_letters += 1


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _lock_key(topic: str, partition: int) -> int:
    # A stable 32-bit key per (topic, partition); advisory locks share one keyspace.
    return zlib.crc32(f"ghl-sync-writer|{topic}|{partition}".encode())
