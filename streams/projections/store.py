"""The asyncpg layer that executes projection batches.

One batch is one transaction: it locks the consumed partitions' offset rows, skips records
below the stored offsets (already applied before a crash), writes the newest row image per
key with a guard that never lets an older stamp overwrite a newer one, hides the children of
deleted contacts, and stores the new offsets and the applied ranges. Either all of it
commits or none of it does, so a restart never applies an event twice and never skips one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol, cast

import asyncpg
from pydantic_core import to_json

from schemas import Event, EventDecodeError
from streams.projections.fastpath import FastEvent, decode, newest_rows
from streams.projections.rows import CHILD_TABLES, COLUMNS, Key, RowImage

__all__ = [
    "BatchOutcome",
    "Connection",
    "ConsumedRecord",
    "DeadLetter",
    "DeadLetterSink",
    "PreparedBatch",
    "ProjectionStore",
    "Record",
]

_TIMESTAMPS: Final = {"date_added", "date_updated", "due_date", "start_time", "end_time"}
_BOOLEANS: Final = {"completed"}


# A named tuple, not a frozen dataclass: the consumer builds one per event, and a frozen
# dataclass's __init__ (one object.__setattr__ per field) cost three times as much.
class ConsumedRecord(NamedTuple):
    """One record read from the event topic."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


class Record(Protocol):
    """What the store reads of a record: a `ConsumedRecord`, or the Kafka client's own record
    as it was fetched (the consumer hands those over as they are, not copied per event)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def key(self) -> bytes | None: ...


@dataclass(frozen=True)
class DeadLetter:
    """A record the projections cannot apply, and why."""

    record: Record
    reason: str
    event_type: str | None = None


@dataclass
class BatchOutcome:
    """What one batch did."""

    applied: int = 0
    skipped: int = 0
    """Records below the stored offset: applied before, not again."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    rows_written: int = 0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
"""A plain connection or one borrowed from a pool."""


@dataclass(frozen=True)
class PreparedBatch:
    """Records with their decoded events and the newest row per key among them."""

    records: Sequence[Record]
    decoded: list[FastEvent | Event | EventDecodeError]
    rows: dict[Key, RowImage]
    spans: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    """(topic, partition) → [lowest offset, highest offset, records] of `records`."""
    rejected: list[int] = field(default_factory=list)
    """Positions in `records` of the events that do not decode."""


def _spans(records: Iterable[Record]) -> dict[tuple[str, int], list[int]]:
    spans: dict[tuple[str, int], list[int]] = {}
    for r in records:
        offset = r.offset
        span = spans.get((r.topic, r.partition))
        if span is None:
            spans[(r.topic, r.partition)] = [offset, offset, 1]
            continue
        if offset < span[0]:
            span[0] = offset
        elif offset > span[1]:
            span[1] = offset
        span[2] += 1
    return spans


DeadLetterSink = Callable[[Sequence[DeadLetter]], Awaitable[None]]


def _sql_type(column: str) -> str:
    if column in _TIMESTAMPS:
        return "timestamptz"
    if column in _BOOLEANS:
        return "boolean"
    return "text"


_GUARD: Final = (
    '(t.version, t.deleted_at IS NOT NULL, t.event_id COLLATE "C") < '
    '(EXCLUDED.version, EXCLUDED.deleted_at IS NOT NULL, EXCLUDED.event_id COLLATE "C")'
)


def _upsert_sql(table: str) -> str:
    typed = list(COLUMNS[table])
    own = ["contact_id"] if table in CHILD_TABLES else ["tags"]
    names = ["location_id", "id", *own, *typed, "data", "version", "event_id", "deleted_at"]
    types = {
        "location_id": "text",
        "id": "text",
        "contact_id": "text",
        "tags": "text",
        "data": "text",
        "version": "timestamptz",
        "event_id": "text",
        "deleted_at": "timestamptz",
    } | {c: _sql_type(c) for c in typed}
    params = ", ".join(f"${i}::{types[n]}[]" for i, n in enumerate(names, start=1))
    select = [
        # Tags travel as JSON text: unnest cannot take a ragged two-dimensional array.
        "ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb))" if n == "tags"
        else "u.data::jsonb" if n == "data"
        else f"u.{n}"
        for n in names
    ]  # fmt: skip
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names[2:])
    return (
        f"INSERT INTO {table} AS t ({', '.join(names)}) "
        f"SELECT {', '.join(select)} FROM unnest({params}) AS u({', '.join(names)}) "
        f"ON CONFLICT (location_id, id) DO UPDATE SET {updates} WHERE {_GUARD}"
    )


def _names(table: str) -> list[str]:
    own = ["contact_id"] if table in CHILD_TABLES else ["tags"]
    return ["location_id", "id", *own, *COLUMNS[table], "data", "version", "event_id", "deleted_at"]


def _stage_type(name: str) -> str:
    special = {
        "tags": "text[]",
        "data": "jsonb",
        "version": "timestamptz",
        "deleted_at": "timestamptz",
    }
    return special.get(name) or _sql_type(name)


def _stage_sql() -> str:
    # Temporary tables live in pg_temp whatever the search_path, so a replay's schema and the
    # live one share them; ON COMMIT DELETE ROWS empties them with each batch's commit.
    statements = ["SET LOCAL client_min_messages = warning"]
    for table in COLUMNS:
        columns = ", ".join(f"{n} {_stage_type(n)}" for n in _names(table))
        statements.append(
            f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} ({columns}) ON COMMIT DELETE ROWS"
        )
    return "; ".join(statements)


def _merge_sql(table: str) -> str:
    names = _names(table)
    listed = ", ".join(names)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names[2:])
    return (
        f"INSERT INTO {table} AS t ({listed}) SELECT {listed} FROM pg_temp.stage_{table} "
        f"ON CONFLICT (location_id, id) DO UPDATE SET {updates} WHERE {_GUARD}"
    )


def _stage_records(table: str, rows: Sequence[RowImage]) -> list[tuple[Any, ...]]:
    typed = COLUMNS[table]
    child = table in CHILD_TABLES
    return [
        (
            r.location_id,
            r.id,
            r.contact_id if child else list(r.tags),
            *(r.columns.get(c) for c in typed),
            r.data,
            r.stamp.version,
            r.stamp.event_id,
            r.deleted_at,
        )
        for r in rows
    ]


def _cascade_sql(table: str) -> str:
    cleared = ", ".join(f"{c} = NULL" for c in COLUMNS[table])
    return (
        f"UPDATE {table} AS t SET {cleared}, data = jsonb_build_object('id', t.id), "
        "version = c.version, event_id = c.event_id, deleted_at = c.version "
        "FROM contacts AS c "
        "WHERE c.location_id = t.location_id AND c.id = t.contact_id "
        "AND c.deleted_at IS NOT NULL "
        'AND (t.version, t.deleted_at IS NOT NULL, t.event_id COLLATE "C") '
        '< (c.version, true, c.event_id COLLATE "C") '
        "AND (t.location_id, t.contact_id) IN "
        "(SELECT * FROM unnest($1::text[], $2::text[]))"
    )


def _columns_of(table: str, rows: Sequence[RowImage]) -> list[list[Any]]:
    typed = COLUMNS[table]
    own: list[list[Any]] = (
        [[r.contact_id for r in rows]]
        if table in CHILD_TABLES
        else [[to_json(r.tags).decode() for r in rows]]
    )
    return [
        [r.location_id for r in rows],
        [r.id for r in rows],
        *own,
        *([r.columns.get(c) for r in rows] for c in typed),
        [r.data for r in rows],
        [r.stamp.version for r in rows],
        [r.stamp.event_id for r in rows],
        [r.deleted_at for r in rows],
    ]


class ProjectionStore:
    """Applies batches of event records to the projection tables of one connection.

    The connection's `search_path` selects the schema, so the same store builds the live
    tables and a replay's fresh ones.
    """

    def __init__(self, consumer: str, *, write: str = "copy") -> None:
        if write not in ("copy", "unnest"):
            raise ValueError(f"write must be 'copy' or 'unnest', not {write!r}")
        self.consumer = consumer
        self.write = write
        """`copy`: COPY into a staging table, then one set-based upsert per table; `unnest`:
        one upsert per table over array parameters."""
        self._upserts = {table: _upsert_sql(table) for table in COLUMNS}
        self._merges = {table: _merge_sql(table) for table in COLUMNS}
        self._stage = _stage_sql()
        self._cascades = {table: _cascade_sql(table) for table in CHILD_TABLES}

    async def stored_offsets(self, conn: Connection, topic: str) -> dict[int, int]:
        """The next offset to apply, per partition of `topic`."""
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM consumer_offsets"
            " WHERE consumer = $1 AND topic = $2",
            self.consumer,
            topic,
        )
        return {row["partition"]: row["next_offset"] for row in rows}

    @staticmethod
    def prepare(records: Sequence[Record]) -> PreparedBatch:
        """Decode a batch and pick its newest rows: the CPU work, done outside any transaction."""
        decoded = [decode(r.value or b"") for r in records]
        rejected = [i for i, d in enumerate(decoded) if type(d) is EventDecodeError]
        valid = (
            [d for d in decoded if not isinstance(d, EventDecodeError)]
            if rejected
            else cast("list[FastEvent | Event]", decoded)
        )
        return PreparedBatch(records, decoded, newest_rows(valid), _spans(records), rejected)

    async def apply(
        self,
        conn: Connection,
        batch: PreparedBatch | Sequence[Record],
        *,
        dead_letters: DeadLetterSink | None = None,
    ) -> BatchOutcome:
        """Apply one batch in one transaction; dead letters are handed over before commit."""
        prepared = batch if isinstance(batch, PreparedBatch) else self.prepare(batch)
        outcome = BatchOutcome()
        async with conn.transaction():
            fresh = await self._claim(conn, prepared.spans, prepared.records, outcome)
            if not outcome.skipped:
                rows, spans = prepared.rows, prepared.spans
                for i in prepared.rejected:
                    self._reject(outcome, prepared.records[i], prepared.decoded[i])
                outcome.applied = len(prepared.records) - len(prepared.rejected)
            else:
                # Part of the batch was applied before a crash: only the rest counts.
                keep = {(r.topic, r.partition, r.offset) for r in fresh}
                decoded = []
                for r, d in zip(prepared.records, prepared.decoded, strict=True):
                    if (r.topic, r.partition, r.offset) not in keep:
                        continue
                    if isinstance(d, EventDecodeError):
                        self._reject(outcome, r, d)
                    else:
                        decoded.append(d)
                outcome.applied = len(decoded)
                rows, spans = newest_rows(decoded), _spans(fresh)
            outcome.rows_written = await self._write(conn, rows.values())
            if outcome.dead_letters and dead_letters is not None:
                # Before the commit: if handing them over fails, the batch is retried whole.
                await dead_letters(outcome.dead_letters)
            await self._record(conn, spans, outcome)
        return outcome

    @staticmethod
    def _reject(outcome: BatchOutcome, record: Record, result: Any) -> None:
        outcome.dead_letters.append(DeadLetter(record, result.reason, result.event_type))

    async def _claim(
        self,
        conn: Connection,
        spans: dict[tuple[str, int], list[int]],
        records: Sequence[Record],
        outcome: BatchOutcome,
    ) -> Sequence[Record]:
        partitions = sorted(spans)
        if not partitions:
            return []
        topics, numbers = [t for t, _ in partitions], [p for _, p in partitions]
        await conn.execute(
            "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)"
            " SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p)"
            " ON CONFLICT DO NOTHING",
            self.consumer,
            topics,
            numbers,
        )
        # The row lock makes a second worker on the same partitions (a zombie after a
        # rebalance) wait, then see the advanced offsets and skip what this one applied.
        locked = await conn.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets"
            " WHERE consumer = $1 AND (topic, partition) IN"
            " (SELECT * FROM unnest($2::text[], $3::int[])) ORDER BY topic, partition"
            " FOR UPDATE",
            self.consumer,
            topics,
            numbers,
        )
        next_offsets = {(r["topic"], r["partition"]): r["next_offset"] for r in locked}
        outcome.next_offsets = next_offsets
        if all(span[0] >= next_offsets[tp] for tp, span in spans.items()):
            return records  # the common case: nothing of the batch was applied before
        fresh = [r for r in records if r.offset >= next_offsets[(r.topic, r.partition)]]
        outcome.skipped = len(records) - len(fresh)
        outcome.next_offsets = next_offsets
        return fresh

    async def _write(self, conn: Connection, rows: Iterable[RowImage]) -> int:
        by_table: dict[str, list[RowImage]] = defaultdict(list)
        for row in rows:
            by_table[row.table].append(row)
        written = 0
        if self.write == "copy" and by_table:
            await conn.execute(self._stage)
        for table in ("contacts", *CHILD_TABLES):
            batch = by_table.get(table)
            if not batch:
                continue
            if self.write == "copy":
                await conn.copy_records_to_table(
                    f"stage_{table}",
                    schema_name="pg_temp",
                    records=_stage_records(table, batch),
                    columns=_names(table),
                )
                status = await conn.execute(self._merges[table])
            else:
                status = await conn.execute(self._upserts[table], *_columns_of(table, batch))
            written += int(status.rsplit(" ", 1)[-1])
        # Contacts whose deletion may hide children: those deleted now, and the parents of
        # children written now (their contact may have been deleted in an earlier batch).
        parents = {(r.location_id, r.id) for r in by_table.get("contacts", ()) if r.stamp.deleted}
        for table in CHILD_TABLES:
            parents.update((r.location_id, r.contact_id) for r in by_table.get(table, ()))
        if parents:
            locations, contacts = [p[0] for p in parents], [p[1] for p in parents]
            for table in CHILD_TABLES:
                await conn.execute(self._cascades[table], locations, contacts)
        return written

    async def _record(
        self, conn: Connection, ranges: dict[tuple[str, int], list[int]], outcome: BatchOutcome
    ) -> None:
        if not ranges:
            return
        keys = sorted(ranges)
        await conn.execute(
            "UPDATE consumer_offsets AS o SET next_offset = u.n, updated_at = now()"
            " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)"
            " WHERE o.consumer = $1 AND o.topic = u.t AND o.partition = u.p",
            self.consumer,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [ranges[k][1] + 1 for k in keys],
        )
        await conn.execute(
            "INSERT INTO applied_batches"
            " (consumer, topic, partition, from_offset, to_offset, events)"
            " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[],"
            " $6::int[])",
            self.consumer,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [ranges[k][0] for k in keys],
            [ranges[k][1] for k in keys],
            [ranges[k][2] for k in keys],
        )
        for k in keys:
            outcome.next_offsets[k] = ranges[k][1] + 1
