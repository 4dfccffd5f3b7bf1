"""The poller's PostgreSQL state, and the live ids the projections hold.

Reconciliation diffs GHL's id sets against the projection tables (`contacts`, `tasks`,
`notes`, `appointments`, read-only): they are exactly what the event log says exists, whoever
wrote the events (webhook, poll, backfill), so an entity created and deleted between two polls
with its Delete webhook lost is still found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = ["LocationState", "PollerStore"]

_TABLES: Mapping[str, str] = {
    "contact": "contacts",
    "task": "tasks",
    "note": "notes",
    "appointment": "appointments",
}


@dataclass(frozen=True, slots=True)
class LocationState:
    """When each job last ran for a location, and the contacts cursor."""

    contacts_cursor: datetime | None = None
    tasks_swept_at: datetime | None = None
    children_swept_at: datetime | None = None
    reconciled_at: datetime | None = None


class PollerStore:
    """Cursors, digests and projection reads on one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def locations_with_tokens(self) -> list[str]:
        """Every location the app holds a token for."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT location_id FROM ghl_tokens ORDER BY location_id")
        return [r["location_id"] for r in rows]

    async def state(self, location_id: str) -> LocationState:
        """The location's state (empty before its first cycle)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT contacts_cursor, tasks_swept_at, children_swept_at, reconciled_at "
                "FROM poller_locations WHERE location_id = $1",
                location_id,
            )
        return LocationState(**dict(row)) if row else LocationState()

    async def save_state(self, location_id: str, state: LocationState) -> None:
        """Store the state after a cycle's events were confirmed."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO poller_locations (location_id, contacts_cursor, tasks_swept_at, "
                "children_swept_at, reconciled_at, updated_at) VALUES ($1,$2,$3,$4,$5, now()) "
                "ON CONFLICT (location_id) DO UPDATE SET"
                " contacts_cursor = EXCLUDED.contacts_cursor,"
                " tasks_swept_at = EXCLUDED.tasks_swept_at,"
                " children_swept_at = EXCLUDED.children_swept_at,"
                " reconciled_at = EXCLUDED.reconciled_at, updated_at = now()",
                location_id,
                state.contacts_cursor,
                state.tasks_swept_at,
                state.children_swept_at,
                state.reconciled_at,
            )

    async def digests(self, location_id: str, entity_type: str) -> dict[str, str]:
        """Entity id -> digest of the last snapshot the poller emitted."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT entity_id, digest FROM poller_digests "
                "WHERE location_id = $1 AND entity_type = $2",
                location_id,
                entity_type,
            )
        return {r["entity_id"]: r["digest"] for r in rows}

    async def save_digests(
        self,
        location_id: str,
        emitted: Iterable[tuple[str, str, str]],
        deleted: Iterable[tuple[str, str]],
        at: datetime,
    ) -> None:
        """Record emitted snapshots `(type, id, digest)` and forget tombstoned `(type, id)`."""
        emitted, deleted = list(emitted), list(deleted)
        async with self._pool.acquire() as conn, conn.transaction():
            if emitted:
                await conn.executemany(
                    "INSERT INTO poller_digests VALUES ($1,$2,$3,$4,$5) ON CONFLICT "
                    "(location_id, entity_type, entity_id) DO UPDATE SET digest = "
                    "EXCLUDED.digest, emitted_at = EXCLUDED.emitted_at",
                    [(location_id, t, i, d, at) for t, i, d in emitted],
                )
            if deleted:
                await conn.executemany(
                    "DELETE FROM poller_digests WHERE location_id = $1 AND entity_type = $2 "
                    "AND entity_id = $3",
                    [(location_id, t, i) for t, i in deleted],
                )

    async def live_ids(
        self, location_id: str, entity_type: str, *, older_than: datetime
    ) -> dict[str, str] | None:
        """Id -> contact id of the live rows the projections hold (None: no projections)."""
        table = _TABLES[entity_type]  # a fixed name from the mapping, never input
        contact = "id" if table == "contacts" else "contact_id"
        async with self._pool.acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
            if not exists:
                return None
            rows = await conn.fetch(
                f"SELECT id, {contact} AS contact_id FROM {table} "
                "WHERE location_id = $1 AND deleted_at IS NULL AND version < $2",
                location_id,
                older_than,
            )
        return {r["id"]: r["contact_id"] for r in rows}
