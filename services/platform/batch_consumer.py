"""The one Kafka consumer loop of ghl-sync: fetch batches, hand them to a sink, commit what the
sink confirmed.

A process brings a `Sink` and a `ConsumerGroupSettings`; `BatchConsumer.run()` does the rest:

    consumer = BatchConsumer(ConsumerGroupSettings(bootstrap_servers=..., group_id=...,
                                                   topics=("ghl.raw.v1",)), sink)
    await consumer.run()          # until cancelled; a sink's bug propagates

The sink (`Sink` protocol, four methods):

- `assigned(partitions)` -> `{partition: next offset}`: called when the group gives this member
  partitions. With `offsets="sink"` (offsets stored by the sink with its data, like the
  projections' PostgreSQL rows) the consumer seeks to the answer; with `offsets="kafka"` the
  answer is ignored and the group's committed offsets are where reading resumes. While the
  sink cannot answer (it raises `Backpressure`, or a lost PostgreSQL or broker: the outage
  policy's `DATABASE_ERRORS` / `KAFKA_ERRORS`), the consumer asks again with capped, jittered
  backoff, logging one line when it starts waiting and one when the answer came; nothing is
  read from the new partitions meanwhile (a rebalance during a PostgreSQL outage waits for
  the database instead of failing the assignment).
- `write(records)`: take one batch (records of assigned partitions only, in order per
  partition). It may finish the work before returning (a synchronous sink) or queue it and
  finish later (normalize). Raising `Backpressure(retry_after=s)` refuses the batch: the consumer
  pauses every partition, keeps polling (so the group keeps this member), and offers the same
  batch again after `s` seconds.
- `confirmed()` -> `{partition: next offset}`: how far everything is done, per partition. Only
  this is ever committed; a sink confirms an offset only when every record below it is finished
  (produced, applied, dead-lettered), so a crash repeats work and never skips it.
- `revoked(partitions)`: the partitions are leaving this member: forget their queued work (the
  next owner reads it again from the committed offsets). The consumer commits what the sink
  confirmed for them first.

Commits go to Kafka after every batch and at least every `commit_interval` seconds, only for
partitions still assigned. With `offsets="sink"` they only serve standard lag tools.

Rebalances: this module never asks the client about a partition it does not hold at that
moment (`highwater()`/`position()` on a revoked partition raise `AssertionError: Partition is
not assigned` in aiokafka); records fetched before a revocation are filtered out before the sink
sees them. Group timing is chosen so a killed member's partitions move within seconds: a
6 s session (the broker's minimum), 1.5 s heartbeats, and a 10 s rebalance timeout (members
rejoin from the background; nothing here blocks a rejoin for long).

Dead letters have one header format for every topic (`dead_letter_headers`): the record's own
headers, then `x-dead-letter-reason`, `x-source-topic`, `x-source-partition`,
`x-source-offset` (named in `schemas.dead_letters`; see README, "Dead letters").

Assignment by the process (`partitions=`, no group): the member reads exactly the partitions
given (the writer holds each through a PostgreSQL advisory lock, so a restart resumes at once
instead of waiting out a group session); `assigned` is called once, offsets must be
`"sink"`, nothing is committed to Kafka and nothing is ever revoked.

Liveness: with `stall_seconds`, a member that fetched nothing for that long although its
partitions hold records beyond its position (a client that stopped fetching, seen after a
broker restart) raises `ReadStalled`, a Kafka error: the process's outage policy replaces the
connected period with new clients, resuming from the sink's offsets.

Failure policy: the sink's exceptions other than `Backpressure` (and, in `assigned`, outage
errors) propagate (bugs: the process's supervisor restarts it and the committed offsets make
it repeat, not skip); commit failures of a group in rebalance or of a broker away are logged
once (until a commit succeeds again) and retried at the next commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, KafkaTimeoutError

from schemas import dead_letters
from services.platform.connections import KafkaSettings, kafka_options
from services.platform.outage import (
    Backoff,
    Dependency,
    database_outage,
    kafka_client_options,
    kafka_outage,
    stop_quietly,
)

__all__ = [
    "Backpressure",
    "BatchConsumer",
    "ConsumerGroupSettings",
    "ReadStalled",
    "Sink",
    "SinkStats",
    "dead_letter_headers",
    "send_dead_letter",
]

log = logging.getLogger(__name__)


class Backpressure(Exception):
    """The sink cannot take the batch now; offer it again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sink(Protocol):
    """Where a `BatchConsumer` hands its records (see the module docstring)."""

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Partitions given to this member; the offsets to resume from (sink-managed)."""
        ...

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Partitions taken from this member: drop their queued work."""
        ...

    async def write(self, records: Sequence[Any]) -> None:
        """Take a batch of `aiokafka.ConsumerRecord`s, or raise `Backpressure`."""
        ...

    def confirmed(self) -> Mapping[TopicPartition, int]:
        """Per partition, the offset below which every record is finished."""
        ...


@dataclass
class SinkStats:
    """The running totals every sink keeps; each sink's own counters extend these."""

    skipped: int = 0
    """Records read that needed nothing done (already done, or not the sink's business)."""
    retries: int = 0
    """Transient failures waited out and tried again."""
    dead_letters: int = 0
    """Records sent to the sink's dead-letter topic."""


@dataclass(frozen=True, kw_only=True)
class ConsumerGroupSettings:
    """One consumer group's connection and timing."""

    bootstrap_servers: KafkaSettings | str
    """The brokers: the composed `KafkaSettings` (TLS and SASL included), or a bare
    `host:port` list for a PLAINTEXT broker."""
    group_id: str | None
    """The consumer group; None with `partitions` (assignment by the process)."""
    topics: tuple[str, ...]
    offsets: Literal["kafka", "sink"] = "kafka"
    partitions: tuple[TopicPartition, ...] | None = None
    """Read exactly these (no group, offsets from the sink); None: the group assigns."""
    stall_seconds: float | None = None
    """Raise `ReadStalled` after this long without a record while records wait (None: off)."""
    batch_size: int = 2000
    batch_wait: float = 0.2
    commit_interval: float = 0.5
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1500
    rebalance_timeout_ms: int = 10000
    max_poll_interval_ms: int = 60000
    max_partition_fetch_bytes: int = 4 << 20
    fetch_max_bytes: int = 16 << 20


def dead_letter_headers(record: Any, reason: str) -> list[tuple[str, bytes]]:
    """The one dead-letter header set: the record's headers (if it has any), then the reason and
    the source."""
    return [
        *(getattr(record, "headers", None) or ()),
        (dead_letters.DEAD_LETTER_REASON, reason.encode()),
        (dead_letters.DEAD_LETTER_SOURCE_TOPIC, record.topic.encode()),
        (dead_letters.DEAD_LETTER_SOURCE_PARTITION, str(record.partition).encode()),
        (dead_letters.DEAD_LETTER_SOURCE_OFFSET, str(record.offset).encode()),
    ]


async def send_dead_letter(
    producer: AIOKafkaProducer, topic: str, record: Any, reason: str
) -> asyncio.Future[Any]:
    """Queue `record` for the dead-letter `topic`; the future resolves when Kafka acked it."""
    future: asyncio.Future[Any] = await producer.send(
        topic,
        value=record.value or b"",
        key=record.key,
        headers=dead_letter_headers(record, reason),
    )
    return future


class ReadStalled(KafkaTimeoutError):  # type: ignore[misc]
    """Records wait beyond the member's position but none was fetched for `stall_seconds`."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._on_revoked(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner._on_assigned(frozenset(assigned))


FETCH_STEP: Final = 500
"""Records the Kafka client turns into record objects between two turns of the event loop."""


async def _getmany_in_steps(
    consumer: AIOKafkaConsumer, wait: float, limit: int
) -> dict[TopicPartition, list[Any]]:
    """`consumer.getmany(timeout_ms=wait, max_records=limit)`, giving the loop a turn every
    `FETCH_STEP` records: building 5,000 record objects at once held it for ~6 ms, and so
    held back everything else of the process (a sink's database replies among them)."""
    fetched: dict[TopicPartition, list[Any]] = {}
    got, timeout_ms = 0, int(wait * 1000)
    while got < limit:
        part = await consumer.getmany(
            timeout_ms=timeout_ms, max_records=min(FETCH_STEP, limit - got)
        )
        if not part:
            break
        for tp, records in part.items():
            fetched.setdefault(tp, []).extend(records)
            got += len(records)
        timeout_ms = 0  # what has been fetched already, no more waiting for new records
        await asyncio.sleep(0)
    return fetched


class BatchConsumer:
    """Runs one consumer group member for a sink until cancelled."""

    def __init__(self, settings: ConsumerGroupSettings, sink: Sink) -> None:
        if (settings.partitions is None) == (settings.group_id is None):
            raise ValueError("give a group_id (the group assigns) or partitions (no group)")
        if settings.partitions is not None and settings.offsets != "sink":
            raise ValueError("partitions assigned by the process need offsets='sink'")
        self.settings = settings
        self._sink = sink
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._committed: dict[TopicPartition, int] = {}
        self._pending: list[Any] = []
        self.assignments = 0
        """How many assignments this member received (a rebalance counter)."""
        self._deferring = False
        self.offsets_source = Dependency(
            f"stored offsets of {_member(settings)}", log=log, backoff=Backoff()
        )
        """The sink's answer to `assigned`, as an outage-policy dependency (waited for)."""

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member holds now."""
        return self._assigned

    def highwater(self) -> dict[TopicPartition, int]:
        """The log end of every partition held now, where the client knows it."""
        if self._consumer is None:
            return {}
        held = self._consumer.assignment()
        out: dict[TopicPartition, int] = {}
        for tp in held:
            high = self._consumer.highwater(tp)
            if high is not None:
                out[tp] = high
        return out

    def lag(self) -> dict[TopicPartition, int]:
        """Per held partition, records in the log the sink has not confirmed yet."""
        done = self._sink.confirmed()
        return {tp: max(high - done.get(tp, high), 0) for tp, high in self.highwater().items()}

    async def run(self) -> None:
        """Consume until cancelled."""
        s = self.settings
        self._consumer = consumer = AIOKafkaConsumer(
            **kafka_options(s.bootstrap_servers),
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=s.max_partition_fetch_bytes,
            fetch_max_bytes=s.fetch_max_bytes,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            rebalance_timeout_ms=s.rebalance_timeout_ms,
            max_poll_interval_ms=s.max_poll_interval_ms,
            **kafka_client_options(),
        )
        if s.partitions is None:
            consumer.subscribe(list(s.topics), listener=_Listener(self))
        await consumer.start()
        try:
            if s.partitions is not None:
                consumer.assign(list(s.partitions))
                await self._on_assigned(frozenset(s.partitions))
            await self._loop(consumer)
        finally:
            try:
                await self._commit(consumer, self._sink.confirmed())
            finally:
                # Bounded, and aiokafka's own cancelled fetch tasks may not escape as a
                # CancelledError (seen stopping after a stall while the broker was away).
                await stop_quietly(consumer, 10)
                self._consumer = None

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        s = self.settings
        retry_at = 0.0
        last_commit = last_read = time.monotonic()
        while True:
            now = time.monotonic()
            if self._pending and now >= retry_at:
                retry_at = await self._offer(consumer, self._pending)
            wait = s.batch_wait
            if self._pending:
                wait = max(min(retry_at - time.monotonic(), s.batch_wait), 0.0)
            fetched = await _getmany_in_steps(consumer, wait, s.batch_size)
            # The client's assignment now, not ours: records of a partition assigned while the
            # sink's `assigned` was still running must not be dropped (the position already
            # moved past them), records of a partition revoked since the fetch must be.
            held = consumer.assignment()
            records = [r for tp, batch in fetched.items() if tp in held for r in batch]
            if records or self._pending:  # a paused member waits on its sink, not stalled
                last_read = time.monotonic()
            elif s.stall_seconds is not None and time.monotonic() - last_read >= s.stall_seconds:
                await self._check_stalled(consumer, time.monotonic() - last_read)
                last_read = time.monotonic()
            if records:
                if self._pending:
                    # Paused partitions return nothing; these are from a newer assignment.
                    self._pending.extend(records)
                else:
                    retry_at = await self._offer(consumer, records)
            if records or time.monotonic() - last_commit >= s.commit_interval:
                await self._commit(consumer, self._sink.confirmed())
                last_commit = time.monotonic()

    async def _check_stalled(self, consumer: AIOKafkaConsumer, idle: float) -> None:
        """Raise `ReadStalled` when a held partition's log ends beyond this member's position."""
        held = list(consumer.assignment())
        if not held:
            return
        limit = self.settings.stall_seconds
        assert limit is not None
        waiting = 0
        try:
            async with asyncio.timeout(limit):
                ends = await consumer.end_offsets(held)
                for tp in held:
                    waiting += max(0, ends[tp] - await consumer.position(tp))
        except TimeoutError:
            raise ReadStalled(
                f"nothing fetched for {idle:.0f}s and the broker gave no log end within {limit:g}s"
            ) from None
        if waiting:
            raise ReadStalled(
                f"nothing fetched for {idle:.0f}s although {waiting} records wait on "
                f"{', '.join(sorted(self.settings.topics))}"
            )

    async def _offer(self, consumer: AIOKafkaConsumer, records: list[Any]) -> float:
        """Hand `records` to the sink; on backpressure keep them and pause. Returns when to
        offer again (0 when taken)."""
        try:
            await self._sink.write(records)
        except Backpressure as exc:
            if not self._pending:
                log.info("sink backpressure (%s): pausing for %.2fs", exc, exc.retry_after)
            self._pending = records
            held = list(consumer.assignment())
            consumer.pause(*held)
            return time.monotonic() + exc.retry_after
        if self._pending:
            self._pending = []
            consumer.resume(*consumer.assignment())
        return 0.0

    async def _commit(
        self, consumer: AIOKafkaConsumer, confirmed: Mapping[TopicPartition, int]
    ) -> None:
        if self.settings.group_id is None:
            return  # no group to commit to: the sink stores its offsets with its data
        held = consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in confirmed.items()
            if tp in held and offset > self._committed.get(tp, -1)
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance is under way or the broker is away: the next commit carries them.
            # Once until a commit succeeds: a broker away fails every commit interval.
            level = logging.DEBUG if self._deferring else logging.WARNING
            self._deferring = True
            log.log(level, "commit of %s for group %s deferred: %s",
                    _render(offsets), self.settings.group_id, exc)  # fmt: skip
            return
        self._deferring = False
        self._committed.update(offsets)

    async def _on_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is not None and revoked:
            confirmed = self._sink.confirmed()
            await self._commit(consumer, {tp: o for tp, o in confirmed.items() if tp in revoked})
        self._assigned = self._assigned - revoked
        self._pending = [r for r in self._pending if _tp(r) not in revoked]
        for tp in revoked:
            self._committed.pop(tp, None)
        if revoked:
            await self._sink.revoked(revoked)

    async def _on_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        consumer = self._consumer
        self.assignments += 1
        resume = await self._sink_assigned(assigned)
        if consumer is not None and self.settings.offsets == "sink":
            for tp, offset in resume.items():
                if tp in assigned:
                    consumer.seek(tp, offset)
        self._assigned = assigned
        log.info("%s assigned %s", _member(self.settings), _render(dict.fromkeys(assigned, 0)))

    async def _sink_assigned(
        self, assigned: frozenset[TopicPartition]
    ) -> Mapping[TopicPartition, int]:
        """The sink's resume offsets for `assigned`, waiting out a sink that cannot answer yet."""
        waiting = self.offsets_source
        while True:
            try:
                resume = await self._sink.assigned(assigned)
            except Backpressure as exc:
                waiting.lost(str(exc) or "the sink is not ready")
                await asyncio.sleep(exc.retry_after)
                continue
            except Exception as exc:
                if not (database_outage(exc) or kafka_outage(exc)):
                    raise
                waiting.lost(exc)
                await waiting.pause()
                continue
            waiting.restored()
            return resume


def _member(settings: ConsumerGroupSettings) -> str:
    return f"group {settings.group_id}" if settings.group_id else "the process's partitions"


def _tp(record: Any) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def _render(offsets: Mapping[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(offsets))
