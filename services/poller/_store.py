"""The poller's PostgreSQL state, and the live ids the projections hold.

A location's state is loaded once when an instance takes its lease and then lives in that
instance's memory (the lease makes it the only writer); changes are written back by
`flush`, many locations in one transaction, so quiet cycles cost no commit at all.

Reconciliation diffs GHL's id sets against the projection tables (`contacts`, `tasks`,
`notes`, `appointments`, read-only): they are exactly what the event log says exists, whoever
wrote the events (webhook, poll, backfill), so an entity created and deleted between two polls
with its Delete webhook lost is still found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import asyncpg

__all__ = [
    "KINDS",
    "LocationDelta",
    "LocationSnapshot",
    "LocationState",
    "PollerStore",
    "reset_if_dirty",
]

_K = TypeVar("_K")
_V = TypeVar("_V")

KINDS = ("contact", "task", "note", "appointment")

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


@dataclass
class LocationSnapshot:
    """Everything the poller keeps of one location between cycles."""

    state: LocationState
    contacts: dict[str, tuple[datetime | None, datetime | None]]
    """Contact id -> (children swept at, dateUpdated last read)."""
    digests: dict[str, dict[str, str]]
    backfilled: bool


@dataclass
class LocationDelta:
    """What changed in a location since its last flush (merged until written)."""

    state: LocationState | None = None
    contacts: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    gone_contacts: set[str] = field(default_factory=set)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    gone: set[tuple[str, str]] = field(default_factory=set)
    plan: dict[str, object] | None = None

    def merge(self, other: LocationDelta) -> None:
        """Fold a later delta into this one."""
        self.state = other.state or self.state
        _fold(self.contacts, self.gone_contacts, other.contacts, other.gone_contacts)
        _fold(self.digests, self.gone, other.digests, other.gone)
        self.plan = other.plan or self.plan


def _fold(live: dict[_K, _V], gone: set[_K], later: dict[_K, _V], later_gone: set[_K]) -> None:
    """Fold a later (present, gone) pair of one kind of key into an earlier one: what the later
    has is present again, what it lost is gone."""
    gone.difference_update(later)
    live.update(later)
    for key in later_gone:
        live.pop(key, None)
    gone.update(later_gone)


async def reset_if_dirty(conn: asyncpg.Connection) -> None:
    """A pool `reset=`: skip asyncpg's reset query on release unless a transaction was left
    open. The default sends one more statement, a transaction of its own, every time a
    connection goes back to the pool: twice the commits of the rate budget's bookings."""
    if conn.is_in_transaction():
        await conn.reset()


class PollerStore:
    """Cursors, digests, sweep state, targets and projection reads on one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def candidates(self) -> list[str]:
        """Locations to poll: every stored token or registered target, minus removed ones."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT location_id FROM ghl_tokens UNION "
                "SELECT location_id FROM poller_targets WHERE enabled "
                "EXCEPT SELECT location_id FROM poller_targets WHERE NOT enabled "
                "ORDER BY 1"
            )
        return [r["location_id"] for r in rows]

    async def load(self, location_id: str) -> LocationSnapshot:
        """A location's whole state, in one read-only transaction."""
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            row = await conn.fetchrow(
                "SELECT contacts_cursor, tasks_swept_at, children_swept_at, reconciled_at "
                "FROM poller_locations WHERE location_id = $1",
                location_id,
            )
            contacts = await conn.fetch(
                "SELECT contact_id, swept_at, date_updated FROM poller_contacts "
                "WHERE location_id = $1",
                location_id,
            )
            digests = await conn.fetch(
                "SELECT entity_type, entity_id, digest FROM poller_digests WHERE location_id = $1",
                location_id,
            )
            done = await conn.fetchval(
                "SELECT phase = 'done' FROM backfill_progress WHERE location_id = $1", location_id
            )
        by_kind: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        for r in digests:
            by_kind.setdefault(r["entity_type"], {})[r["entity_id"]] = r["digest"]
        return LocationSnapshot(
            state=LocationState(**dict(row)) if row else LocationState(),
            contacts={r["contact_id"]: (r["swept_at"], r["date_updated"]) for r in contacts},
            digests=by_kind,
            # A location polled before backfills were the poller's first job has its state.
            backfilled=bool(done) or row is not None,
        )

    async def flush(self, deltas: Mapping[str, LocationDelta], *, holder: str) -> None:
        """Write the deltas of many locations in one transaction."""
        if not deltas:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await write_deltas(conn, deltas, holder=holder)

    async def live_ids(
        self,
        location_id: str,
        entity_type: str,
        *,
        older_than: datetime,
        contacts: Sequence[str] | None = None,
        starting: tuple[datetime, datetime] | None = None,
    ) -> dict[str, str] | None:
        """Id -> contact id of the live rows the projections hold (None: no projections);
        only those of `contacts`, or (appointments) starting within `starting`, when given."""
        table = _TABLES[entity_type]  # a fixed name from the mapping, never input
        contact = "id" if table == "contacts" else "contact_id"
        query = (
            f"SELECT id, {contact} AS contact_id FROM {table} "
            "WHERE location_id = $1 AND deleted_at IS NULL AND version < $2"
        )
        args: list[object] = [location_id, older_than]
        if contacts is not None:
            args.append(list(contacts))
            query += f" AND {contact} = ANY(${len(args)}::text[])"
        if starting is not None and table == "appointments":
            args.extend(starting)
            query += f" AND start_time >= ${len(args) - 1} AND start_time <= ${len(args)}"
        async with self._pool.acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
            if not exists:
                return None
            rows = await conn.fetch(query, *args)
        return {r["id"]: r["contact_id"] for r in rows}


_UPSERT_STATES = (
    "INSERT INTO poller_locations (location_id, contacts_cursor, tasks_swept_at, "
    "children_swept_at, reconciled_at, updated_at) VALUES ($1,$2,$3,$4,$5, now()) "
    "ON CONFLICT (location_id) DO UPDATE SET"
    " contacts_cursor = EXCLUDED.contacts_cursor,"
    " tasks_swept_at = EXCLUDED.tasks_swept_at,"
    " children_swept_at = EXCLUDED.children_swept_at,"
    " reconciled_at = EXCLUDED.reconciled_at, updated_at = now()"
)
_UPSERT_CONTACTS = (
    "INSERT INTO poller_contacts VALUES ($1,$2,$3,$4) ON CONFLICT (location_id, "
    "contact_id) DO UPDATE SET date_updated = EXCLUDED.date_updated, "
    "swept_at = EXCLUDED.swept_at"
)
_DELETE_CONTACTS = "DELETE FROM poller_contacts WHERE location_id = $1 AND contact_id = $2"
_UPSERT_DIGESTS = (
    "INSERT INTO poller_digests VALUES ($1,$2,$3,$4, now()) ON CONFLICT "
    "(location_id, entity_type, entity_id) DO UPDATE SET digest = "
    "EXCLUDED.digest, emitted_at = EXCLUDED.emitted_at"
)
_DELETE_DIGESTS = (
    "DELETE FROM poller_digests WHERE location_id = $1 AND entity_type = $2 AND entity_id = $3"
)
_UPSERT_PLANS = (
    "INSERT INTO poller_plans (location_id, holder, contacts, tasks, projected, "
    "projected_daily, staleness_bound_s, oldest_swept_at, updated_at) "
    "VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8, now()) ON CONFLICT (location_id) DO UPDATE "
    "SET holder = EXCLUDED.holder, contacts = EXCLUDED.contacts, tasks = EXCLUDED.tasks,"
    " projected = EXCLUDED.projected, projected_daily = EXCLUDED.projected_daily,"
    " staleness_bound_s = EXCLUDED.staleness_bound_s,"
    " oldest_swept_at = EXCLUDED.oldest_swept_at, updated_at = now()"
)


async def write_deltas(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    deltas: Mapping[str, LocationDelta],
    *,
    holder: str,
) -> None:
    """The statements of `flush`, on a connection inside a transaction (the backfill reuses
    them for its pages)."""
    items = deltas.items()
    statements: list[tuple[str, list[tuple[object, ...]]]] = [
        (
            _UPSERT_STATES,
            [
                (loc, s.contacts_cursor, s.tasks_swept_at, s.children_swept_at, s.reconciled_at)
                for loc, d in items
                if (s := d.state) is not None
            ],
        ),
        (
            _UPSERT_CONTACTS,
            [
                (loc, cid, updated, swept)
                for loc, d in items
                for cid, (swept, updated) in d.contacts.items()
            ],
        ),
        (_DELETE_CONTACTS, [(loc, cid) for loc, d in items for cid in d.gone_contacts]),
        (
            _UPSERT_DIGESTS,
            [
                (loc, kind, eid, digest)
                for loc, d in items
                for (kind, eid), digest in d.digests.items()
            ],
        ),
        (_DELETE_DIGESTS, [(loc, kind, eid) for loc, d in items for kind, eid in d.gone]),
        (
            _UPSERT_PLANS,
            [
                (
                    loc,
                    holder,
                    p["contacts"],
                    p["tasks"],
                    json.dumps(p["projected"]),
                    p["projected_daily"],
                    p["staleness_bound_s"],
                    p["oldest_swept_at"],
                )
                for loc, d in items
                if (p := d.plan) is not None
            ],
        ),
    ]
    for statement, rows in statements:
        if rows:
            await conn.executemany(statement, rows)


def contact_rows(
    contacts: Iterable[tuple[str, datetime | None, datetime | None]],
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """`(id, swept_at, date_updated)` rows as a delta's contacts map."""
    return {cid: (swept, updated) for cid, swept, updated in contacts}
