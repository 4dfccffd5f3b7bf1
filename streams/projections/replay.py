"""Rebuilding the projections from the start of `ghl.events`, and swapping them in.

`rebuild` reads the whole event log into fresh tables in a schema of their own while the
live tables keep serving. `replay` then swaps them in atomically:

1. in one transaction it locks the live consumer's offset rows, which pauses the live
   consumer before its next batch (its first statement waits for those rows);
2. the rebuild catches up to the live offsets, so it holds at least every event the live
   tables hold;
3. the live tables move to a scrap schema, the rebuilt ones into their place, and the live
   offsets advance to the rebuild's position (the live consumer skips what the rebuild
   already applied);
4. commit: readers and the live consumer see the new tables at once; the old ones are
   dropped.

PostgreSQL re-resolves table names in prepared statements after DDL, so the live consumer
keeps working on the new tables without a restart.

The rebuild uses every core: the topic's partitions are split among worker processes (one
per core by default, at most one per partition), each applying its own partitions into the
same fresh tables. That is exact because a contact and all its children share one key
(`location_id:contact_id`), hence one partition: no two processes ever touch the same row or
the same offset row. The catch-up and the swap stay in this process, in one transaction.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import asyncpg

from services.db.migrate import apply_migrations
from streams.admin import LogReader
from streams.projections._gc import collect_batch_garbage, pace_collector
from streams.projections.rows import COLUMNS
from streams.projections.store import BatchOutcome, ProjectionStore
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["RebuildReport", "rebuild", "replay"]

_REBUILD_CONSUMER = "rebuild"


@dataclass
class RebuildReport:
    """What a rebuild read and how long it took."""

    schema: str
    events: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    offsets: dict[int, int] = field(default_factory=dict)
    swapped: bool = False

    @property
    def events_per_second(self) -> float:
        """Throughput of the rebuild."""
        return self.events / self.seconds if self.seconds else 0.0


def _reader(settings: StreamsSettings, only: Sequence[int] | None = None) -> LogReader:
    """The event topic from the beginning (only the partitions in `only`, if given)."""
    return LogReader(settings.kafka, topic_names(settings).events, only)


async def _connect(
    settings: StreamsSettings, schema: str, *, rebuilding: bool = False
) -> asyncpg.Connection:
    # A rebuild's commits need not wait for the WAL flush: a crash mid-rebuild leaves an
    # unswapped schema that is built again anyway, and the swap's own commit (synchronous,
    # on the live connection) flushes the WAL up to it, every rebuilt row included.
    options = {"search_path": schema} | ({"synchronous_commit": "off"} if rebuilding else {})
    return await asyncpg.connect(settings.database_url.get_secret_value(), server_settings=options)


async def rebuild(
    settings: StreamsSettings,
    *,
    schema: str | None = None,
    batch_size: int = 5000,
    workers: int | None = None,
) -> RebuildReport:
    """Build fresh projection tables from the whole event log into `schema` (created).

    `workers` processes share the partitions (default: one per core); 1 rebuilds in this
    process.
    """
    target = schema or f"{settings.database_schema}_rebuild_{int(time.time())}"
    report = RebuildReport(schema=target)
    admin = await _connect(settings, settings.database_schema)
    try:
        await apply_migrations(admin, schema=target)
    finally:
        await admin.close()
    reader = _reader(settings)
    try:
        ends = await reader.start()
    finally:
        await reader.stop()
    wanted = workers if workers is not None else (os.cpu_count() or 1)
    count = max(1, min(wanted, len(ends)))
    groups = [sorted(ends)[i::count] for i in range(count)]
    started = time.perf_counter()
    try:
        if len(groups) <= 1:
            events, dead = await _rebuild_partitions(settings, target, None, ends, batch_size)
        else:
            loop = asyncio.get_running_loop()
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=len(groups), mp_context=spawn) as pool:
                parts = await asyncio.gather(
                    *(
                        loop.run_in_executor(
                            pool, _rebuild_in_process, settings, target, group, ends, batch_size
                        )
                        for group in groups
                    )
                )
            events, dead = sum(p[0] for p in parts), sum(p[1] for p in parts)
    finally:
        report.seconds = time.perf_counter() - started
    report.events, report.dead_letters = events, dead
    report.offsets = ends
    return report


def _rebuild_in_process(
    settings: StreamsSettings,
    target: str,
    partitions: list[int],
    ends: dict[int, int],
    batch_size: int,
) -> tuple[int, int]:
    return asyncio.run(_rebuild_partitions(settings, target, partitions, ends, batch_size))


async def _rebuild_partitions(
    settings: StreamsSettings,
    target: str,
    partitions: list[int] | None,
    ends: dict[int, int],
    batch_size: int,
) -> tuple[int, int]:
    """(events applied, dead letters) of rebuilding `partitions` (None: all) into `target`."""
    pace_collector()
    reader = _reader(settings, partitions)
    await reader.start()
    conn = await _connect(settings, target, rebuilding=True)
    part = RebuildReport(schema=target)
    try:
        await _apply_until(reader, ProjectionStore(_REBUILD_CONSUMER), conn, ends, part, batch_size)
    finally:
        await reader.stop()
        await conn.close()
    return part.events, part.dead_letters


async def _apply_until(
    reader: LogReader,
    store: ProjectionStore,
    conn: asyncpg.Connection,
    ends: dict[int, int],
    report: RebuildReport,
    batch_size: int,
) -> None:
    # Reading and decoding batch N+1 overlaps with PostgreSQL applying batch N.
    applying: asyncio.Task[BatchOutcome] | None = None
    try:
        while records := await reader.read_until(ends, batch_size):
            prepared = await store.prepare_in_steps(records)
            if applying is not None:
                _account(report, await applying)
            applying = asyncio.create_task(store.apply(conn, prepared))
        if applying is not None:
            _account(report, await applying)
            applying = None
    finally:
        if applying is not None:  # an error above: the batch in flight is not waited for
            applying.cancel()
            await asyncio.gather(applying, return_exceptions=True)


def _account(report: RebuildReport, outcome: BatchOutcome) -> None:
    report.events += outcome.applied
    report.dead_letters += len(outcome.dead_letters)
    collect_batch_garbage()


async def replay(
    settings: StreamsSettings, *, batch_size: int = 5000, workers: int | None = None
) -> RebuildReport:
    """Rebuild every projection from offset zero and swap the result in atomically.

    `workers` processes rebuild the partitions in parallel (default: one per core).
    """
    live_schema = settings.database_schema
    report = await rebuild(settings, batch_size=batch_size, workers=workers)
    topic = topic_names(settings).events
    live = await _connect(settings, live_schema)
    target = await _connect(settings, report.schema, rebuilding=True)
    reader = _reader(settings)
    await reader.start()
    try:
        async with live.transaction():
            live_store = ProjectionStore(settings.projection_consumer)
            live_offsets = await live_store.offsets.lock_topic(live, topic)
            position = {
                p: max(report.offsets.get(p, 0), live_offsets.get(p, 0))
                for p in set(report.offsets) | set(live_offsets)
            }
            # Catch up: everything the live tables hold must be in the rebuilt ones.
            for tp in reader.partitions:
                reader.consumer.seek(tp, report.offsets.get(tp.partition, 0))
            await _apply_until(
                reader, ProjectionStore(_REBUILD_CONSUMER), target, position, report, batch_size
            )
            await _swap(live, report.schema, live_schema)
            await live.execute(
                "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)"
                " SELECT $1, $2, p, n FROM unnest($3::int[], $4::bigint[]) AS u(p, n)"
                " ON CONFLICT (consumer, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                settings.projection_consumer,
                topic,
                list(position),
                list(position.values()),
            )
        report.offsets = position
        report.swapped = True
    finally:
        await reader.stop()
        await target.close()
    try:
        await live.execute(f'DROP SCHEMA IF EXISTS "{report.schema}" CASCADE')
        await live.execute(f'DROP SCHEMA IF EXISTS "{report.schema}_replaced" CASCADE')
    finally:
        await live.close()
    return report


async def _swap(live: asyncpg.Connection, rebuilt: str, live_schema: str) -> None:
    # Index names are per schema: the old tables leave before the new ones arrive.
    scrap = f"{rebuilt}_replaced"
    await live.execute(f'CREATE SCHEMA "{scrap}"')
    for table in COLUMNS:
        await live.execute(f'ALTER TABLE "{live_schema}"."{table}" SET SCHEMA "{scrap}"')
        await live.execute(f'ALTER TABLE "{rebuilt}"."{table}" SET SCHEMA "{live_schema}"')
