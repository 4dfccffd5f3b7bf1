"""Rebuilding the history projection from the start of `ghl.events`, and swapping it in.

`rebuild_history` reads the whole event log into fresh history tables in a schema of their
own while the live ones keep serving. With `swap=True` it then, in one transaction on the
live schema:

1. locks the live history consumer's offset rows, which pauses it before its next batch;
2. catches the rebuild up to the live offsets (so it holds every event the live table holds);
3. moves the live tables to a scrap schema and the rebuilt ones into their place, with the
   offsets the rebuild reached (the live consumer skips what the rebuild applied);
4. commits, then drops the scrap schema.

PostgreSQL re-resolves table names in prepared statements after DDL, so the live consumer
keeps working on the new tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import asyncpg

from services.db.migrate import apply_migrations
from streams.admin import LogReader
from streams.history.store import HistoryRecord, HistoryStore
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["HistoryRebuild", "dump_history", "rebuild_history"]

_TABLES = ("history_snapshots", "history_offsets")


@dataclass
class HistoryRebuild:
    """What a rebuild read, where it stopped, and whether it was swapped in."""

    schema: str
    events: int = 0
    seconds: float = 0.0
    offsets: dict[int, int] = field(default_factory=dict)
    swapped: bool = False


async def dump_history(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    """Every snapshot of the connection's schema, sorted: what two builds must agree on."""
    rows = await conn.fetch(
        "SELECT location_id, event_id, contact_id, entity_type, entity_id, version, deleted,"
        " event_type, occurred_at, observed_at, source, data::text"
        " FROM history_snapshots ORDER BY location_id, event_id"
    )
    return [tuple(r) for r in rows]


async def _apply_until(
    reader: LogReader, store: HistoryStore, conn: asyncpg.Connection, ends: dict[int, int]
) -> int:
    applied = 0
    while records := await reader.read_until(ends, 5000):
        batch = [HistoryRecord(r.topic, r.partition, r.offset, r.value) for r in records]
        applied += (await store.apply(conn, batch)).applied
    return applied


async def rebuild_history(
    settings: StreamsSettings, *, schema: str | None = None, swap: bool = False
) -> HistoryRebuild:
    """Build fresh history tables from the whole log into `schema` (created); with `swap`,
    put them in place of the live ones (see the module docstring)."""
    live_schema = settings.database_schema
    target = schema or f"{live_schema}_history_{int(time.time())}"
    report = HistoryRebuild(schema=target)
    url = settings.database_url.get_secret_value()
    conn = await asyncpg.connect(url, server_settings={"search_path": target})
    reader = LogReader(settings.kafka, topic_names(settings).events)
    started = time.perf_counter()
    try:
        await apply_migrations(conn, schema=target)
        store = HistoryStore(settings.history_consumer)
        ends = await reader.start()
        report.events = await _apply_until(reader, store, conn, ends)
        report.offsets = ends
        if swap:
            report.events += await _swap(settings, reader, store, conn, target, ends)
            report.swapped = True
    finally:
        report.seconds = time.perf_counter() - started
        await reader.stop()
        await conn.close()
    return report


async def _swap(
    settings: StreamsSettings,
    reader: LogReader,
    store: HistoryStore,
    rebuilt: asyncpg.Connection,
    target: str,
    ends: dict[int, int],
) -> int:
    live_schema = settings.database_schema
    topic = topic_names(settings).events
    live = await asyncpg.connect(
        settings.database_url.get_secret_value(), server_settings={"search_path": live_schema}
    )
    scrap = f"{target}_scrap"
    try:
        async with live.transaction():
            live_offsets = await store.offsets.lock_topic(live, topic)
            goal = {p: max(ends.get(p, 0), o) for p, o in {**ends, **live_offsets}.items()}
            caught_up = await _apply_until(reader, store, rebuilt, goal)
            q = await live.fetchval("SELECT quote_ident($1)", live_schema)
            t = await live.fetchval("SELECT quote_ident($1)", target)
            s = await live.fetchval("SELECT quote_ident($1)", scrap)
            await live.execute(f"CREATE SCHEMA {s}")
            for table in _TABLES:
                await live.execute(f"ALTER TABLE {q}.{table} SET SCHEMA {s}")
                await live.execute(f"ALTER TABLE {t}.{table} SET SCHEMA {q}")
        await live.execute(f"DROP SCHEMA {s} CASCADE")
        await live.execute(f"DROP SCHEMA {t} CASCADE")
    finally:
        await live.close()
    return caught_up
