"""The asyncpg layer of the history projection: writing snapshots, reading entries.

One batch is one transaction: it locks the consumed partitions' rows in `history_offsets`,
skips records below the stored offsets (applied before a crash), inserts one snapshot per
event (a second copy of an event keeps the earlier observation), and stores the new offsets.

Reads derive each entry from a snapshot and its entity's previous snapshot (one index probe
per entry), so a page costs the same at any history length.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, Unpack

import asyncpg
from pydantic_core import to_json

from services.db.offsets import OffsetTable
from streams.history.decode import decode_snapshot
from streams.history.rows import Entry, Snapshot, entry_between, newest_snapshots

__all__ = [
    "HistoryBatch",
    "HistoryCursorError",
    "HistoryFilter",
    "HistoryPage",
    "HistoryRecord",
    "HistoryStore",
    "entry_json",
    "read_as_of",
    "read_history",
    "read_view_as_of",
]

log = logging.getLogger(__name__)

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy | asyncpg.Pool


@dataclass(frozen=True)
class HistoryRecord:
    """One record read from the event topic."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class HistoryBatch:
    """What one batch did."""

    applied: int = 0
    skipped: int = 0
    """Records below the stored offset: applied before, not again."""
    undecodable: int = 0
    """Records that are not events (the projections dead-letter them; history skips them)."""
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


# The columns in `Snapshot`'s field order: a batch's arguments are its snapshots transposed.
_INSERT = """
INSERT INTO history_snapshots AS h (location_id, contact_id, entity_type, entity_id, version,
    deleted, event_id, event_type, occurred_at, observed_at, source, data)
SELECT l, c, et, ei, v, d, e, ty, oa, ob, s, da::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[],
    $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[])
    AS u(l, c, et, ei, v, d, e, ty, oa, ob, s, da)
ON CONFLICT (location_id, event_id) DO UPDATE SET
    version = EXCLUDED.version, observed_at = EXCLUDED.observed_at, source = EXCLUDED.source,
    occurred_at = EXCLUDED.occurred_at
WHERE (EXCLUDED.version, EXCLUDED.observed_at, EXCLUDED.source)
    < (h.version, h.observed_at, h.source)
"""


class HistoryStore:
    """Applies batches of event records to `history_snapshots` for one consumer name."""

    def __init__(self, consumer: str = "history") -> None:
        self.offsets = OffsetTable("history_offsets", consumer)

    async def stored_offsets(self, conn: Connection, topic: str) -> dict[int, int]:
        """The next offset to apply, per partition of `topic`."""
        return await self.offsets.read(conn, topic)

    @staticmethod
    def prepare(records: Sequence[HistoryRecord]) -> list[Snapshot | None]:
        """Decode a batch (closed registry, upcasting included): the CPU work."""
        return [decode_snapshot(record.value or b"") for record in records]

    async def apply(
        self,
        conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
        records: Sequence[HistoryRecord],
        prepared: Sequence[Snapshot | None] | None = None,
    ) -> HistoryBatch:
        """Apply one batch in one transaction."""
        snaps = self.prepare(records) if prepared is None else prepared
        outcome = HistoryBatch()
        partitions = {(r.topic, r.partition) for r in records}
        if not partitions:
            return outcome
        async with conn.transaction():
            stored = await self.offsets.claim(conn, partitions)
            fresh: list[Snapshot] = []
            ends = dict(stored)
            for record, snap in zip(records, snaps, strict=True):
                tp = (record.topic, record.partition)
                if record.offset < stored[tp]:
                    outcome.skipped += 1
                    continue
                ends[tp] = max(ends[tp], record.offset + 1)
                if snap is None:
                    outcome.undecodable += 1
                else:
                    fresh.append(snap)
                    outcome.applied += 1
            await self._insert(conn, list(newest_snapshots(fresh).values()))
            await self.offsets.store(conn, ends)
            outcome.next_offsets = ends
        return outcome

    @staticmethod
    async def _insert(
        conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, snaps: Sequence[Snapshot]
    ) -> None:
        if not snaps:
            return
        # Sorted by primary key: two writers on overlapping keys lock rows in one order.
        snaps = sorted(snaps, key=lambda s: (s.location_id, s.event_id))
        *columns, data = (list(column) for column in zip(*snaps, strict=True))
        await conn.execute(_INSERT, *columns, [to_json(d).decode() for d in data])

    async def prune(self, conn: Connection, before: datetime) -> int:
        """Forget history older than `before`, keeping per entity the newest snapshot before
        it (the base the first kept entry is diffed against). Returns rows deleted."""
        status = await conn.execute(
            """
            DELETE FROM history_snapshots h
            WHERE h.version < $1 AND EXISTS (
                SELECT 1 FROM history_snapshots n
                WHERE n.location_id = h.location_id AND n.entity_type = h.entity_type
                  AND n.entity_id = h.entity_id AND n.version < $1
                  AND (n.version, n.deleted, n.event_id) > (h.version, h.deleted, h.event_id))
            """,
            before,
        )
        return int(status.rsplit(" ", 1)[-1])


# -- reads ----------------------------------------------------------------------------------


class HistoryCursorError(ValueError):
    """The cursor was not made by this reader."""


def _encode_cursor(snap: Snapshot) -> str:
    raw = json.dumps([snap.version.isoformat(), snap.deleted, snap.event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, bool, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        version, deleted, event_id = raw
        when = datetime.fromisoformat(version)
    except (ValueError, TypeError) as exc:
        raise HistoryCursorError("cursor is not one this API returned") from exc
    if not (isinstance(deleted, bool) and isinstance(event_id, str)) or when.tzinfo is None:
        raise HistoryCursorError("cursor is not one this API returned")
    return when, deleted, event_id


@dataclass(frozen=True)
class HistoryPage:
    """One page of entries, oldest first, and the cursor of the next page."""

    location_id: str | None
    entries: list[Entry]
    next_cursor: str | None


_S_COLUMNS = (
    "s.location_id, s.contact_id, s.entity_type, s.entity_id, s.version, s.deleted, s.event_id,"
    " s.event_type, s.occurred_at, s.observed_at, s.source, s.data::text AS data"
)


def _snapshot(row: asyncpg.Record, prefix: str = "") -> Snapshot | None:
    if row[f"{prefix}event_id"] is None:
        return None
    data = json.loads(row[f"{prefix}data"])
    return Snapshot._make(row[prefix + name] for name in Snapshot._fields)._replace(data=data)


async def _location_of(conn: Connection, contact_id: str, location_id: str | None) -> str | None:
    if location_id is not None:
        return location_id
    found: str | None = await conn.fetchval(
        "SELECT location_id FROM history_snapshots WHERE contact_id = $1 LIMIT 1", contact_id
    )
    return found


class HistoryFilter(TypedDict, total=False):
    """Which of a contact's entries `read_history` reads; a key left out keeps every entry."""

    location_id: str | None
    """The contact's location (found from the contact id when None)."""
    since: datetime | None
    """From this time (inclusive)."""
    until: datetime | None
    """Before this time."""
    entity_types: Sequence[str]
    """Only entries of these entity types."""
    fields: Sequence[str]
    """Only entries changing one of these fields."""


async def read_history(
    conn: Connection,
    contact_id: str,
    *,
    limit: int = 100,
    cursor: str | None = None,
    **where: Unpack[HistoryFilter],
) -> HistoryPage:
    """A page of a contact's entries that pass `where`, oldest first. Raises
    `HistoryCursorError` for a cursor it did not make."""
    since, until = where.get("since"), where.get("until")
    entity_types, fields = where.get("entity_types", ()), where.get("fields", ())
    after = _decode_cursor(cursor) if cursor else None
    loc = await _location_of(conn, contact_id, where.get("location_id"))
    if loc is None:
        return HistoryPage(None, [], None)
    found: list[Entry] = []
    exhausted = False
    # Entries that change nothing (a repeated snapshot) or none of `fields` are dropped after
    # the diff, so fetch in chunks until the page is full.
    chunk = max(limit + 1, 50)
    while len(found) <= limit and not exhausted:
        rows = await conn.fetch(
            f"""
            SELECT {_S_COLUMNS}, p.*
            FROM history_snapshots s
            LEFT JOIN LATERAL (
                SELECT location_id AS p_location_id, contact_id AS p_contact_id,
                    entity_type AS p_entity_type, entity_id AS p_entity_id,
                    version AS p_version, deleted AS p_deleted, event_id AS p_event_id,
                    event_type AS p_event_type, occurred_at AS p_occurred_at,
                    observed_at AS p_observed_at, source AS p_source, data::text AS p_data
                FROM history_snapshots p
                WHERE p.location_id = s.location_id AND p.entity_type = s.entity_type
                  AND p.entity_id = s.entity_id
                  AND (p.version, p.deleted, p.event_id) < (s.version, s.deleted, s.event_id)
                ORDER BY p.version DESC, p.deleted DESC, p.event_id DESC
                LIMIT 1
            ) p ON true
            WHERE s.location_id = $1 AND s.contact_id = $2
              AND ($3::timestamptz IS NULL OR s.version >= $3)
              AND ($4::timestamptz IS NULL OR s.version < $4)
              AND (cardinality($5::text[]) = 0 OR s.entity_type = ANY($5))
              AND ($6::timestamptz IS NULL
                   OR (s.version, s.deleted, s.event_id) > ($6, $7::bool, $8::text))
            ORDER BY s.version, s.deleted, s.event_id
            LIMIT $9
            """,
            loc,
            contact_id,
            since,
            until,
            list(entity_types),
            after[0] if after else None,
            after[1] if after else None,
            after[2] if after else None,
            chunk,
        )
        exhausted = len(rows) < chunk
        for row in rows:
            snap = _snapshot(row)
            assert snap is not None
            entry = entry_between(_snapshot(row, "p_"), snap)
            after = snap.order
            if entry is None or (fields and not any(c.field in fields for c in entry.changes)):
                continue
            found.append(entry)
            if len(found) > limit:
                break
    page = found[:limit]
    more = len(found) > limit
    next_cursor = _encode_cursor(page[-1].snapshot) if more and page else None
    return HistoryPage(loc, page, next_cursor)


# A skip scan: from entity to entity of the contact by index, one probe each for its newest
# snapshot up to $3; a busy contact's thousands of snapshots are never sorted.
_LATEST_CTE = """
WITH RECURSIVE entities AS (
    (SELECT entity_type, entity_id FROM history_snapshots
     WHERE location_id = $1 AND contact_id = $2
     ORDER BY entity_type, entity_id LIMIT 1)
    UNION ALL
    SELECT n.entity_type, n.entity_id FROM entities e CROSS JOIN LATERAL (
        SELECT entity_type, entity_id FROM history_snapshots
        WHERE location_id = $1 AND contact_id = $2
          AND (entity_type, entity_id) > (e.entity_type, e.entity_id)
        ORDER BY entity_type, entity_id LIMIT 1) n
), latest AS (
    SELECT h.* FROM entities e CROSS JOIN LATERAL (
        SELECT * FROM history_snapshots h
        WHERE h.location_id = $1 AND h.contact_id = $2
          AND h.entity_type = e.entity_type AND h.entity_id = e.entity_id
          AND h.version <= $3
        ORDER BY h.version DESC, h.deleted DESC, h.event_id DESC LIMIT 1) h
)
"""


async def read_view_as_of(
    conn: Connection, contact_id: str, when: datetime, *, location_id: str | None = None
) -> dict[str, Any] | None:
    """The unified view of the contact as it was at `when` (the shape of the live view);
    None when it did not exist then or was deleted. Built by PostgreSQL in one document."""
    loc = await _location_of(conn, contact_id, location_id)
    if loc is None:
        return None

    def children(entity: str, order: str) -> str:
        return (
            f"(SELECT coalesce(json_agg(data ORDER BY data->>'{order}' NULLS LAST, entity_id),"
            f" '[]') FROM latest WHERE entity_type = '{entity}' AND NOT deleted)"
        )

    document = await conn.fetchval(
        f"""
        {_LATEST_CTE}
        SELECT json_build_object(
            'contact', (SELECT json_build_object('deleted', deleted, 'version', version,
                                                 'data', data)
                        FROM latest WHERE entity_type = 'contact' AND entity_id = $2),
            'tasks', {children("task", "dueDate")},
            'notes', {children("note", "dateAdded")},
            'appointments', {children("appointment", "startTime")})::text
        """,
        loc,
        contact_id,
        when,
    )
    found = json.loads(document)
    contact = found["contact"]
    if contact is None or contact["deleted"]:
        return None
    data = contact["data"]
    tags = list(data.get("tags") or [])
    data["tags"] = tags
    return {
        "location_id": loc,
        "contact": data,
        "tags": tags,
        "tasks": found["tasks"],
        "notes": found["notes"],
        "appointments": found["appointments"],
        "version": contact["version"],
    }


async def read_as_of(
    conn: Connection,
    contact_id: str,
    when: datetime,
    *,
    location_id: str | None = None,
) -> tuple[str, dict[tuple[str, str], Snapshot]] | None:
    """Per entity of the contact, the newest snapshot not newer than `when` (tombstones
    included), and the contact's location; None when the history has no such contact."""
    loc = await _location_of(conn, contact_id, location_id)
    if loc is None:
        return None
    rows = await conn.fetch(
        f"""
        {_LATEST_CTE}
        SELECT {_S_COLUMNS} FROM latest s
        """,
        loc,
        contact_id,
        when,
    )
    snaps = {}
    for row in rows:
        snap = _snapshot(row)
        assert snap is not None
        snaps[snap.entity] = snap
    return loc, snaps


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as the API and `ghl-sync history --json` show it."""
    s = entry.snapshot
    return {
        "at": s.version.isoformat(),
        "occurred_at": s.occurred_at.isoformat() if s.occurred_at else None,
        "observed_at": s.observed_at.isoformat(),
        "source": s.source,
        "event_id": s.event_id,
        "event_type": s.event_type,
        "entity_type": s.entity_type,
        "entity_id": s.entity_id,
        "action": entry.action,
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in entry.changes],
    }
