"""The history consumer: `ghl.events` → `history_snapshots`, its own consumer group.

A sink of the platform's `BatchConsumer` with `offsets="sink"`: the offsets stored with the
snapshots (`history_offsets`, same transaction) are the only truth; on every assignment the
consumer seeks to them and the store skips what is below them.

Failure policy:
- bad data (a record that does not decode): skipped and counted; the projection consumer
  dead-letters the same record, so it is not sent to the dead-letter topic twice;
- lost database connections: the batch is refused with `Backpressure` and offered again with
  growing pauses until it applies (the group keeps this member meanwhile);
- anything else is a bug: it propagates and stops the worker; after a restart the consumer
  resumes at the stored offsets.

With a retention (`history_retention_days`), history older than that is pruned once an hour.

Priority: given `defer`, a batch is refused (`Backpressure`, offered again shortly) while
`defer()` is true. The worker passes "the projections are behind by more than a batch", so in
a burst the current state is projected first and the history catches up after it
(bench/history.py measures both).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from services.platform import Backpressure, BatchConsumer
from services.platform.outage import DATABASE_ERRORS, Backoff, Dependency
from services.platform.pools import wait_for_pool
from streams.history.store import HistoryRecord, HistoryStore
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["HistoryConsumer"]

log = logging.getLogger(__name__)

_TRANSIENT = DATABASE_ERRORS
_PRUNE_EVERY = 3600.0
_DEFER_SECONDS = 0.25


class HistoryConsumer:
    """Consumes `ghl.events` into the history tables until cancelled."""

    def __init__(
        self,
        settings: StreamsSettings,
        *,
        group_id: str | None = None,
        retention_days: int | None = None,
        defer: Callable[[], bool] | None = None,
    ) -> None:
        self._s = settings
        self.topics = topic_names(settings)
        self.store = HistoryStore(settings.history_consumer)
        self.applied = 0
        self.undecodable = 0
        self._group_id = group_id or f"{settings.app_id}-history"
        self._retention = retention_days or settings.history_retention_days
        self._pool: asyncpg.Pool | None = None
        self._confirmed: dict[TopicPartition, int] = {}
        # The policy's pace (a try at most every 5 s), or the configured longest pause if shorter.
        self.postgres = Dependency(
            "postgres", log=log, backoff=Backoff(cap=min(5.0, settings.retry_backoff_max))
        )
        """PostgreSQL as this consumer saw it last (an outage is logged once, when it goes)."""
        self._pruned_at = 0.0
        self._consumer: BatchConsumer | None = None
        self._defer = defer
        self.deferred = 0
        """Batches refused because `defer` said another processor comes first."""

    @property
    def consumer(self) -> BatchConsumer | None:
        """The batch consumer while running."""
        return self._consumer

    async def run(self) -> None:
        """Consume until cancelled."""
        self._pool = await wait_for_pool(
            self.postgres, self._s.database_url, schema=self._s.database_schema, max_size=1
        )
        self._consumer = BatchConsumer(
            self._s.event_log_group(self._group_id, self.topics.events),
            self,
        )
        try:
            await self._consumer.run()
        finally:
            await self._pool.close()

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        """The offsets stored with the snapshots for `partitions`."""
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            stored = await self.store.stored_offsets(conn, self.topics.events)
        return {tp: stored[tp.partition] for tp in partitions if tp.partition in stored}

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Nothing to save: every applied batch stored its offsets."""
        for tp in partitions:
            self._confirmed.pop(tp, None)

    def confirmed(self) -> Mapping[TopicPartition, int]:
        """The offsets of the last applied batches."""
        return self._confirmed

    async def write(self, records: Sequence[Any]) -> None:
        """Apply the batch in one transaction, or refuse it while PostgreSQL is away."""
        assert self._pool is not None
        if self._defer is not None and self._defer():
            self.deferred += 1
            raise Backpressure("the projections come first", retry_after=_DEFER_SECONDS)
        batch = [HistoryRecord(r.topic, r.partition, r.offset, r.value) for r in records]
        try:
            async with self._pool.acquire() as conn:
                outcome = await self.store.apply(conn, batch)
                await self._maybe_prune(conn)
        except _TRANSIENT as exc:
            self.postgres.lost(exc)  # one line per outage; the batch is offered again
            retry_after = self.postgres.backoff.next()
            raise Backpressure("PostgreSQL unavailable", retry_after=retry_after) from exc
        self.postgres.restored()
        self.applied += outcome.applied
        self.undecodable += outcome.undecodable
        for (topic, partition), offset in outcome.next_offsets.items():
            tp = TopicPartition(topic, partition)
            self._confirmed[tp] = max(offset, self._confirmed.get(tp, 0))

    async def _maybe_prune(self, conn: Any) -> None:
        if self._retention is None or time.monotonic() - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        before = datetime.now(UTC) - timedelta(days=self._retention)
        deleted = await self.store.prune(conn, before)
        log.info("history pruned before %s: %d snapshots", before.isoformat(), deleted)
