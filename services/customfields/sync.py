"""Keeping each location's custom field definitions fresh: when, and what it cost.

`DefinitionSync` reads a location's definitions through a caller-given `fetch` (the poller
passes the GHL client's `list_custom_fields`, counted as the `definitions` request class) and
stores them with `store.sync_definitions`. It syncs

- at onboarding (`sync(location, reason="onboarding")`, before the backfill),
- on the schedule the location's quota plan gives (`maybe_sync(..., every=seconds)`),
- when a value names a field id the stored definitions lack (`maybe_sync(..., seen=ids)`):
  at once, at most every `retry_seconds`, and an id GHL itself did not list at the last sync
  (a deleted field) waits for the next scheduled sync instead of costing a request per cycle.

Every attempt is recorded in `custom_field_syncs` (when, why, how many fields, the error).
Failure policy: a failed fetch (GHL down, a token without `locations/customFields.readonly`)
is logged once per attempt and recorded; the old definitions stay and the next attempt comes
after `retry_seconds`. PostgreSQL errors are raised (the caller's outage policy handles them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.customfields.store import Fetch, sync_definitions

__all__ = ["DefinitionSync", "SyncOutcome"]

log = logging.getLogger("services.customfields")


@dataclass(frozen=True)
class SyncOutcome:
    """One attempt: why it ran, how many definitions it stored, or why it failed."""

    location_id: str
    reason: str
    fields: int = 0
    error: str | None = None


@dataclass
class _Known:
    ids: frozenset[str] = frozenset()
    attempted_at: datetime | None = None
    synced_at: datetime | None = None
    failed: bool = False
    """Whether the last attempt failed (then the next comes after `retry_seconds`)."""
    absent: set[str] = field(default_factory=set)
    """Ids seen on values that GHL did not list at the last sync."""


class DefinitionSync:
    """See the module docstring. One per process; state is cached per location."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        fetch: Fetch,
        *,
        every_seconds: float = 21_600.0,
        retry_seconds: float = 300.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._pool = pool
        self._fetch = fetch
        self.every_seconds = every_seconds
        """The wanted period of the scheduled read (the quota plan may stretch it)."""
        self._retry = retry_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._known: dict[str, _Known] = {}

    async def _state(self, location_id: str) -> _Known:
        known = self._known.get(location_id)
        if known is None:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT attempted_at, synced_at, error IS NOT NULL AS failed"
                    " FROM custom_field_syncs WHERE location_id = $1",
                    location_id,
                )
                ids = await conn.fetch(
                    "SELECT id FROM custom_field_definitions WHERE location_id = $1", location_id
                )
            known = _Known(
                ids=frozenset(r["id"] for r in ids),
                attempted_at=row["attempted_at"] if row else None,
                synced_at=row["synced_at"] if row else None,
                failed=bool(row and row["failed"]),
            )
            self._known[location_id] = known
        return known

    def forget(self, location_id: str) -> None:
        """Drop the cached state (a location this process no longer runs)."""
        self._known.pop(location_id, None)

    async def sync(self, location_id: str, *, reason: str, seen: Iterable[str] = ()) -> SyncOutcome:
        """Read and store the location's definitions now; returns what happened."""
        known = await self._state(location_id)
        now = self._clock()
        known.attempted_at = now
        # Read GHL before taking a connection: the request may wait for its rate budget.
        try:
            fetched = await self._guarded(location_id)
        except _FetchFailed as failed:
            known.failed = True
            async with self._pool.acquire() as conn:
                await self._record(conn, location_id, now, reason, None, 0, failed.reason)
            log.warning(
                "custom field definitions not read: location=%s reason=%s error=%s",
                location_id,
                reason,
                failed.reason,
            )
            return SyncOutcome(location_id, reason, error=failed.reason)

        async def stored(_: str) -> list[dict[str, object]]:
            return fetched

        async with self._pool.acquire() as conn:
            count = await sync_definitions(conn, location_id, stored)
            ids = await conn.fetch(
                "SELECT id FROM custom_field_definitions WHERE location_id = $1", location_id
            )
            await self._record(conn, location_id, now, reason, now, count, None)
        known.ids = frozenset(r["id"] for r in ids)
        known.synced_at = now
        known.failed = False
        known.absent = {i for i in seen if i not in known.ids}
        log.info(
            "custom field definitions synced: location=%s reason=%s fields=%d",
            location_id,
            reason,
            count,
        )
        return SyncOutcome(location_id, reason, fields=count)

    async def maybe_sync(
        self, location_id: str, *, every: float, seen: Iterable[str] = ()
    ) -> SyncOutcome | None:
        """Sync when never done, when `every` seconds passed since the last attempt (0: no
        schedule), or when `seen` names an id the definitions lack; after a failed or recent
        attempt, not before `retry_seconds`. Else None."""
        known = await self._state(location_id)
        now = self._clock()
        seen_ids = set(seen)
        since = None if known.attempted_at is None else (now - known.attempted_at).total_seconds()
        if known.synced_at is None and known.attempted_at is None:
            return await self.sync(location_id, reason="onboarding", seen=seen_ids)
        if since is not None and since < self._retry:
            return None  # a failed or recent attempt: not before `retry_seconds`
        if (
            known.synced_at is None
            or known.failed
            or (every > 0 and since is not None and since >= every)
        ):
            return await self.sync(location_id, reason="schedule", seen=seen_ids)
        if seen_ids - known.ids - known.absent:
            return await self.sync(location_id, reason="unknown_id", seen=seen_ids)
        return None

    async def _guarded(self, location_id: str) -> list[dict[str, object]]:
        try:
            return [dict(d) for d in await self._fetch(location_id)]
        except (asyncpg.PostgresError, OSError):
            raise
        except Exception as exc:  # GHL's errors, whatever the client: recorded, retried later
            raise _FetchFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc

    @staticmethod
    async def _record(
        conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
        location_id: str,
        attempted_at: datetime,
        reason: str,
        synced_at: datetime | None,
        fields: int,
        error: str | None,
    ) -> None:
        await conn.execute(
            """
            INSERT INTO custom_field_syncs AS s
                (location_id, attempted_at, synced_at, fields, reason, error)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (location_id) DO UPDATE SET
                attempted_at = EXCLUDED.attempted_at,
                synced_at = COALESCE(EXCLUDED.synced_at, s.synced_at),
                fields = CASE WHEN EXCLUDED.synced_at IS NULL THEN s.fields
                              ELSE EXCLUDED.fields END,
                reason = EXCLUDED.reason,
                error = EXCLUDED.error
            """,
            location_id,
            attempted_at,
            synced_at,
            fields,
            reason,
            error,
        )


class _FetchFailed(Exception):
    """The fetch raised; `reason` names it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
