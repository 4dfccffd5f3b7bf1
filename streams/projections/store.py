"""The asyncpg layer that executes projection batches.

One batch is one transaction: it locks the consumed partitions' offset rows, skips records
below the stored offsets (already applied before a crash), writes the newest row image per
key with a guard that never lets an older stamp overwrite a newer one, hides the children of
deleted contacts, and stores the new offsets and the applied ranges. Either all of it
commits or none of it does, so a restart never applies an event twice and never skips one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

import asyncpg

from schemas import Event, EventDecodeError
from services.db.offsets import OffsetTable
from streams.projections.fastpath import (
    STAGED_TIMES,
    FastEvent,
    Newest,
    StagedRow,
    decode,
    hold_newest,
    newest_staged,
    staged_of,
)
from streams.projections.rows import (
    BOOLEAN_COLUMNS,
    CHILD_TABLES,
    COLUMN_SOURCES,
    COLUMNS,
    TIME_COLUMNS,
    Key,
)

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
    rows: dict[Key, StagedRow]
    spans: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    """(topic, partition) → [lowest offset, highest offset, records] of `records`."""
    rejected: list[int] = field(default_factory=list)
    """Positions in `records` of the events that do not decode."""


def _spans(
    records: Iterable[Record], spans: dict[tuple[str, int], list[int]] | None = None
) -> dict[tuple[str, int], list[int]]:
    """The (topic, partition) spans of `records`, added to `spans` if given."""
    if spans is None:
        spans = {}
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


_GUARD: Final = (
    '(t.version, t.deleted_at IS NOT NULL, t.event_id COLLATE "C") < '
    '(EXCLUDED.version, EXCLUDED.deleted_at IS NOT NULL, EXCLUDED.event_id COLLATE "C")'
)


def _names(table: str) -> list[str]:
    """The table's columns, in the order the upsert writes them."""
    own = ["contact_id"] if table in CHILD_TABLES else ["tags"]
    return ["location_id", "id", *own, *COLUMNS[table], "data", "version", "event_id", "deleted_at"]


_STAGE_TIMES: Final = tuple(dict.fromkeys(c for table in COLUMNS for c in STAGED_TIMES[table]))
"""Every table's time columns, each once: the staging table's last columns."""

STAGE_COLUMNS: Final = {
    "tbl": "text",
    "location_id": "text",
    "id": "text",
    "contact_id": "text",
    "version": "timestamptz",
    "event_id": "text",
    "deleted": "boolean",
    "data": "jsonb",
    **dict.fromkeys(_STAGE_TIMES, "timestamptz"),
}
"""The one staging table (`pg_temp.stage_rows`) that a batch's rows of all four tables are
copied into: its table, the `StagedRow` fields, and every table's time columns."""


def _time_pads(table: str) -> tuple[tuple[None, ...], tuple[None, ...]]:
    """The empty staging columns before and after `table`'s own times."""
    own = STAGED_TIMES[table]
    start = _STAGE_TIMES.index(own[0])
    if _STAGE_TIMES[start : start + len(own)] != own:
        raise TypeError(f"the time columns of {table} are not side by side in the staging table")
    return (None,) * start, (None,) * (len(_STAGE_TIMES) - start - len(own))


_TIME_PADS: Final = {table: _time_pads(table) for table in COLUMNS}


def _stage_record(row: StagedRow) -> tuple[Any, ...]:
    """`row` as a record of the staging table, in `STAGE_COLUMNS` order."""
    stamp = row.stamp
    before, after = _TIME_PADS[row.table]
    return (
        row.table,
        row.location_id,
        row.id,
        row.contact_id,
        stamp.version,
        stamp.event_id,
        stamp.deleted,
        row.data,
        *before,
        *row.times,
        *after,
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column_sql(table: str, column: str) -> str:
    """How the upsert reads a typed column out of a staged row `s` (`rows.COLUMN_SOURCES`)."""
    if column in TIME_COLUMNS:
        return f"s.{column}"
    first, *rest = [f"s.data->>{_quoted(name)}" for name in COLUMN_SOURCES[table][column]]
    value = first
    for name in rest:  # the first that is set and not empty, else the last one's value
        value = f"COALESCE(NULLIF({value}, ''), {name})"
    return f"({value})::boolean" if column in BOOLEAN_COLUMNS else value


def _upsert_sql(table: str, staged: str) -> str:
    """Upsert `table` from its staged rows in `staged` (a table or a CTE of all four tables'
    rows), guarded."""
    own = (
        "s.contact_id"
        if table in CHILD_TABLES
        # A tombstone's data is NULL here: no tags, an empty array.
        else "ARRAY(SELECT jsonb_array_elements_text(s.data->'tags'))"
    )
    select = [
        "s.location_id",
        "s.id",
        own,
        *(_column_sql(table, c) for c in COLUMNS[table]),
        "COALESCE(s.data, jsonb_build_object('id', s.id))",
        "s.version",
        "s.event_id",
        "CASE WHEN s.deleted THEN s.version END",
    ]
    names = _names(table)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names[2:])
    return (
        f"INSERT INTO {table} AS t ({', '.join(names)}) "
        f"SELECT {', '.join(select)} FROM {staged} AS s WHERE s.tbl = {_quoted(table)} "
        f"ON CONFLICT (location_id, id) DO UPDATE SET {updates} WHERE {_GUARD}"
    )


_WRITE_ORDER: Final = ("contacts", *CHILD_TABLES)


def _merge_sql(staged: str) -> str:
    """Upsert all four tables from the staged rows in `staged` (the staging table, or the
    CTE `staged`) in one statement, a data-modifying CTE per table; it returns how many rows
    were written."""
    written = [
        f"{table}_written AS ({_upsert_sql(table, staged)} RETURNING 1)" for table in _WRITE_ORDER
    ]
    counted = " + ".join(f"(SELECT count(*) FROM {table}_written)" for table in _WRITE_ORDER)
    return f"{', '.join(written)} SELECT {counted}"


def _copy_merge_sql() -> str:
    """`_merge_sql` from the staging table the batch was copied into."""
    return f"WITH {_merge_sql('pg_temp.stage_rows')}"


def _unnest_merge_sql() -> str:
    """`_merge_sql` from array parameters, one per staging column ($1 … in `STAGE_COLUMNS`
    order), instead of a COPY."""
    params = ", ".join(
        f"${i}::{'text' if kind == 'jsonb' else kind}[]"
        for i, kind in enumerate(STAGE_COLUMNS.values(), start=1)
    )
    read = ", ".join(
        f"u.{n}::jsonb AS {n}" if kind == "jsonb" else f"u.{n}" for n, kind in STAGE_COLUMNS.items()
    )
    staged = f"SELECT {read} FROM unnest({params}) AS u({', '.join(STAGE_COLUMNS)})"
    return f"WITH staged AS ({staged}), {_merge_sql('staged')}"


_SETUP: Final = (
    # The projection tables are hot in memory, where an index probe costs about what a
    # sequential read does: at PostgreSQL's default (4) the cascade hashed whole child tables
    # instead of probing the few deleted contacts' children, a scan per batch that grew with
    # the tables.
    "SET LOCAL random_page_cost = 1.1"
)


def _setup_sql(*, staging: bool) -> str:
    """The batch transaction's first statements: its planner setting and (for COPY) the
    staging table."""
    statements = [_SETUP]
    if staging:
        # A temporary table lives in pg_temp whatever the search_path, so a replay's schema and
        # the live one share it; ON COMMIT DELETE ROWS empties it with each commit. One table
        # for the four: one COPY and one upsert statement per batch (four of each measured
        # 0.87-0.93x the events/s in bench/vs_connect.py).
        statements.append("SET LOCAL client_min_messages = warning")
        columns = ", ".join(f"{n} {kind}" for n, kind in STAGE_COLUMNS.items())
        statements.append(
            f"CREATE TEMP TABLE IF NOT EXISTS stage_rows ({columns}) ON COMMIT DELETE ROWS"
        )
    return "; ".join(statements)


_DELETED_SQL: Final = (
    # One primary-key probe per contact: LIMIT keeps the planner from hashing the whole
    # contacts table instead (it did: a scan per batch, growing with the table).
    "SELECT c.* FROM unnest($1::text[], $2::text[]) AS p(location_id, id) "
    "CROSS JOIN LATERAL (SELECT c.location_id, c.id, c.version, c.event_id "
    "FROM contacts AS c WHERE c.location_id = p.location_id AND c.id = p.id "
    "AND c.deleted_at IS NOT NULL LIMIT 1) AS c"
)
"""The deleted contacts among the contacts in `$1, $2`."""


def _cascade_sql() -> str:
    """Hide the children of the deleted contacts in `$1…$4` (their key and stamp) that are
    older than the tombstone: they become tombstones with its stamp. One statement."""
    updates = []
    for table in CHILD_TABLES:
        cleared = ", ".join(f"{c} = NULL" for c in COLUMNS[table])
        updates.append(
            f"{table}_hidden AS (UPDATE {table} AS t SET {cleared}, "
            "data = jsonb_build_object('id', t.id), "
            "version = c.version, event_id = c.event_id, deleted_at = c.version "
            "FROM deleted AS c WHERE t.location_id = c.location_id AND t.contact_id = c.id "
            'AND (t.version, t.deleted_at IS NOT NULL, t.event_id COLLATE "C") '
            '< (c.version, true, c.event_id COLLATE "C") RETURNING 1)'
        )
    counted = " + ".join(f"(SELECT count(*) FROM {table}_hidden)" for table in CHILD_TABLES)
    return (
        "WITH deleted AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], "
        f"$4::text[]) AS c(location_id, id, version, event_id)), {', '.join(updates)} "
        f"SELECT {counted}"
    )


PREPARE_STEP: Final = 100
"""Records decoded between two turns of the event loop (`ProjectionStore.prepare_in_steps`).

Each statement of the batch being applied waits for the step under way before its reply is
read: with 500 (~5 ms of decoding) the first statements of a batch took ~8 ms instead of
~2; 100 measured 1.06-1.18x the events/s of 500 per run in bench/vs_connect.py, at the same
CPU."""


def _rejected(decoded: Sequence[FastEvent | Event | EventDecodeError]) -> list[int]:
    return [i for i, d in enumerate(decoded) if type(d) is EventDecodeError]


class _Preparing:
    """A batch being prepared, a step of its records at a time: their decoded events, the
    newest event per row and the offset spans so far."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records
        self.decoded: list[FastEvent | Event | EventDecodeError] = []
        self.newest: Newest = {}
        self.spans: dict[tuple[str, int], list[int]] = {}

    def decode(self, step: Sequence[Record]) -> None:
        events = [decode(r.value or b"") for r in step]
        self.decoded.extend(events)
        hold_newest(self.newest, [e for e in events if not isinstance(e, EventDecodeError)])
        _spans(step, self.spans)

    def batch(self, rows: dict[Key, StagedRow]) -> PreparedBatch:
        """The prepared batch, with `rows`: the staged images of `newest`."""
        return PreparedBatch(self.records, self.decoded, rows, self.spans, _rejected(self.decoded))


class ProjectionStore:
    """Applies batches of event records to the projection tables of one connection.

    The connection's `search_path` selects the schema, so the same store builds the live
    tables and a replay's fresh ones.
    """

    def __init__(self, consumer: str, *, write: str = "copy") -> None:
        if write not in ("copy", "unnest"):
            raise ValueError(f"write must be 'copy' or 'unnest', not {write!r}")
        self.consumer = consumer
        self.offsets = OffsetTable("consumer_offsets", consumer)
        """This consumer's rows of `consumer_offsets`."""
        self.write = write
        """`copy`: one COPY of the batch's rows into a staging table, then one set-based upsert
        statement for the four tables; `unnest`: the same statement over array parameters."""
        self._merge = _copy_merge_sql() if write == "copy" else _unnest_merge_sql()
        self._setup = _setup_sql(staging=write == "copy")
        self._cascade = _cascade_sql()

    async def stored_offsets(self, conn: Connection, topic: str) -> dict[int, int]:
        """The next offset to apply, per partition of `topic`."""
        return await self.offsets.read(conn, topic)

    @staticmethod
    def prepare(records: Sequence[Record]) -> PreparedBatch:
        """Decode a batch and pick its newest rows: the CPU work, done outside any transaction."""
        preparing = _Preparing(records)
        preparing.decode(records)
        return preparing.batch({k: staged_of(e) for k, (_, e) in preparing.newest.items()})

    @staticmethod
    async def prepare_in_steps(records: Sequence[Record]) -> PreparedBatch:
        """`prepare`, giving the event loop a turn every `PREPARE_STEP` records.

        A batch is prepared while the one before it is applied; decoding 5,000 events at once
        held the loop for ~70 ms, and the batch being applied waited that long for each of its
        statements' replies. Turns in between let the two overlap. Picking the newest rows
        and their staged images goes in the same steps (at the end, in one go, they held the
        loop for another ~7 ms a batch).
        """
        preparing = _Preparing(records)
        for start in range(0, len(records), PREPARE_STEP):
            if start:
                await asyncio.sleep(0)
            preparing.decode(records[start : start + PREPARE_STEP])
        held = list(preparing.newest.items())
        rows: dict[Key, StagedRow] = {}
        for start in range(0, len(held), PREPARE_STEP):
            await asyncio.sleep(0)
            for key, (_, event) in held[start : start + PREPARE_STEP]:
                rows[key] = staged_of(event)
        return preparing.batch(rows)

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
                rows, spans = newest_staged(decoded), _spans(fresh)
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
        if not spans:
            return []
        # The row locks make a second worker on the same partitions (a zombie after a
        # rebalance) wait, then see the advanced offsets and skip what this one applied.
        next_offsets = await self.offsets.claim(conn, spans)
        outcome.next_offsets = next_offsets
        if all(span[0] >= next_offsets[tp] for tp, span in spans.items()):
            return records  # the common case: nothing of the batch was applied before
        fresh = [r for r in records if r.offset >= next_offsets[(r.topic, r.partition)]]
        outcome.skipped = len(records) - len(fresh)
        return fresh

    async def _write(self, conn: Connection, rows: Iterable[StagedRow]) -> int:
        by_table: dict[str, list[StagedRow]] = defaultdict(list)
        for row in rows:
            by_table[row.table].append(row)
        written = 0
        if by_table:
            await conn.execute(self._setup)
            records = [_stage_record(r) for rows in by_table.values() for r in rows]
            # fetchval: a prepared statement, planned once per connection.
            if self.write == "copy":
                await conn.copy_records_to_table(
                    "stage_rows",
                    schema_name="pg_temp",
                    records=records,
                    columns=list(STAGE_COLUMNS),
                )
                written = await conn.fetchval(self._merge)
            else:
                written = await conn.fetchval(self._merge, *zip(*records, strict=True))
        # Contacts whose deletion may hide children: those deleted now, and the parents of
        # children written now (their contact may have been deleted in an earlier batch).
        parents = {(r.location_id, r.id) for r in by_table.get("contacts", ()) if r.stamp.deleted}
        for table in CHILD_TABLES:
            parents.update((r.location_id, r.contact_id) for r in by_table.get(table, ()))
        if parents:
            locations, contacts = [p[0] for p in parents], [p[1] for p in parents]
            # Mostly none of them is deleted, and then there is nothing to hide.
            if deleted := await conn.fetch(_DELETED_SQL, locations, contacts):
                await conn.execute(self._cascade, *zip(*deleted, strict=True))
        return written

    async def _record(
        self, conn: Connection, ranges: dict[tuple[str, int], list[int]], outcome: BatchOutcome
    ) -> None:
        if not ranges:
            return
        keys = sorted(ranges)
        await self.offsets.store(conn, {k: ranges[k][1] + 1 for k in keys})
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
