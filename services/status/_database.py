"""What `status` reads from PostgreSQL: read-only queries on one connection.

Tables owned by parts that may not be deployed (the writer's, for one) are looked up first
and reported as absent instead of failing the whole status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from services.status._rows import by_location
from services.status.report import (
    BackfillState,
    BudgetState,
    ParkedLocation,
    PlanState,
    PollerState,
    TableCount,
    TokenState,
    WebhookReceipts,
)

__all__ = ["PROJECTION_TABLES", "DatabaseSnapshot", "read_database"]

PROJECTION_TABLES = ("contacts", "tasks", "notes", "appointments")

# Only these columns of ghl_tokens are ever read: the token columns stay in the database.
_TOKENS = """
SELECT location_id, user_type, expires_at, refresh_count, refreshed_at,
       extract(epoch FROM expires_at - now())::float8 AS expires_in_seconds
  FROM ghl_tokens
"""

# The ledger's own arithmetic (migration 0011) on the database clock: `recent` holds our latest
# slot times (booked slots ahead of now count as spent), `others` someone else's use reported
# by GHL until `others_until`.
_BUDGETS = """
WITH t AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
SELECT r.location_id, r.max_requests, r.interval_s, r.daily_limit,
       r.daily_limit - CASE WHEN r.day = floor(t.now / 86400)::int THEN r.day_count ELSE 0 END
           AS daily_left,
       r.max_requests
           - (SELECT count(*) FROM unnest(r.recent) AS x WHERE x > t.now - r.interval_s)::int
           - CASE WHEN t.now < r.others_until THEN r.others ELSE 0 END AS window_left,
       greatest(r.tat - t.now, 0) AS next_slot_in
  FROM ghl_rate_limits r, t
"""

_POLLER = """
SELECT location_id, contacts_cursor, tasks_swept_at, children_swept_at, reconciled_at,
       updated_at AS last_poll_at
  FROM poller_locations
"""

_BACKFILL = """
SELECT location_id, phase, contacts_done, tasks_done, started_at, updated_at, finished_at
  FROM backfill_progress
"""

_RECEIPTS = """
SELECT count(*) FILTER (WHERE state = 'persisted') AS persisted,
       count(*) FILTER (WHERE state = 'claimed') AS claimed,
       max(persisted_at) AS last_persisted_at
  FROM webhook_receipts
"""


@dataclass(frozen=True)
class DatabaseSnapshot:
    """Everything `status` reads from PostgreSQL, keyed by location where it is per location."""

    now: datetime
    tokens: Mapping[str, TokenState] = field(default_factory=dict)
    budgets: Mapping[str, BudgetState] = field(default_factory=dict)
    pollers: Mapping[str, PollerState] = field(default_factory=dict)
    backfills: Mapping[str, BackfillState] = field(default_factory=dict)
    contacts: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Location -> (live, deleted) contacts."""
    tables: tuple[TableCount, ...] = ()
    webhooks: WebhookReceipts = field(
        default_factory=lambda: WebhookReceipts(persisted=0, claimed=0, last_persisted_at=None)
    )
    commands: Mapping[str, int] | None = None
    offsets: Mapping[tuple[str, int], int] = field(default_factory=dict)
    """(topic, partition) -> next offset the named projection consumer will apply."""
    parked: tuple[ParkedLocation, ...] = ()
    """Locations normalize parked for want of a token."""
    plans: Mapping[str, PlanState] = field(default_factory=dict)
    """The poller's quota plan, lease and today's requests per location."""


async def _exists(conn: asyncpg.Connection, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table))


async def _plans(conn: asyncpg.Connection, daily_quota: int) -> dict[str, PlanState]:
    """Leases, plans and today's counts (migrations 0040/0041), per location."""
    if not await _exists(conn, "poller_plans"):
        return {}
    counts: dict[str, dict[str, int]] = {}
    for r in await conn.fetch(
        "SELECT location_id, request_class, requests FROM ghl_request_counts"
        " WHERE day = (now() AT TIME ZONE 'UTC')::date"
    ):
        counts.setdefault(r["location_id"], {})[r["request_class"]] = r["requests"]
    leases = {
        r["location_id"]: (r["holder"], r["expires_at"])
        for r in await conn.fetch(
            "SELECT location_id, holder, expires_at FROM poller_leases WHERE expires_at > now()"
        )
    }
    plans = {r["location_id"]: r for r in await conn.fetch("SELECT * FROM poller_plans")}
    out = {}
    for loc in sorted(set(counts) | set(leases) | set(plans)):
        plan = plans.get(loc)
        holder, expires = leases.get(loc, (None, None))
        out[loc] = PlanState(
            holder=holder,
            lease_expires_at=expires,
            requests_today=counts.get(loc, {}),
            projected_daily=plan["projected_daily"] if plan else None,
            daily_quota=daily_quota,
            staleness_bound_seconds=plan["staleness_bound_s"] if plan else None,
            oldest_swept_at=plan["oldest_swept_at"] if plan else None,
            contacts_known=plan["contacts"] if plan else None,
        )
    return out


async def read_database(
    conn: asyncpg.Connection,
    *,
    projection_consumer: str,
    events_topic: str,
    daily_quota: int = 200_000,
) -> DatabaseSnapshot:
    """Read the sync state in one repeatable-read transaction, so the figures agree."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        now: datetime = await conn.fetchval("SELECT now()")
        tokens = by_location(TokenState, await conn.fetch(_TOKENS))
        budgets = {
            r["location_id"]: BudgetState(
                window_requests=r["max_requests"],
                window_seconds=r["interval_s"],
                window_left=max(r["window_left"], 0),
                daily_limit=r["daily_limit"],
                daily_left=max(r["daily_left"], 0),
                next_slot_in_seconds=r["next_slot_in"],
            )
            for r in await conn.fetch(_BUDGETS)
        }
        pollers = by_location(PollerState, await conn.fetch(_POLLER))
        backfills = by_location(BackfillState, await conn.fetch(_BACKFILL))
        tables = []
        for table in PROJECTION_TABLES:  # fixed names, never input
            row = await conn.fetchrow(
                f"SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live,"
                f" count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM {table}"
            )
            assert row is not None
            tables.append(TableCount(table=table, live=row["live"], deleted=row["deleted"]))
        contacts = {
            r["location_id"]: (r["live"], r["deleted"])
            for r in await conn.fetch(
                "SELECT location_id, count(*) FILTER (WHERE deleted_at IS NULL) AS live,"
                " count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted"
                " FROM contacts GROUP BY location_id"
            )
        }
        receipts = await conn.fetchrow(_RECEIPTS)
        assert receipts is not None
        commands = None
        if await _exists(conn, "writer_commands"):
            commands = {
                r["state"]: r["n"]
                for r in await conn.fetch(
                    "SELECT state, count(*) AS n FROM writer_commands GROUP BY state"
                )
            }
        parked: tuple[ParkedLocation, ...] = ()
        if await _exists(conn, "normalize_parked"):
            parked = tuple(
                ParkedLocation(**dict(r))
                for r in await conn.fetch(
                    "SELECT location_id, sum(records)::int AS records, min(reason) AS reason,"
                    " min(parked_since) AS parked_since, max(updated_at) AS updated_at"
                    " FROM normalize_parked GROUP BY location_id ORDER BY location_id"
                )
            )
        plans = await _plans(conn, daily_quota)
        offsets = {
            (events_topic, r["partition"]): r["next_offset"]
            for r in await conn.fetch(
                "SELECT partition, next_offset FROM consumer_offsets"
                " WHERE consumer = $1 AND topic = $2",
                projection_consumer,
                events_topic,
            )
        }
    return DatabaseSnapshot(
        plans=plans,
        parked=parked,
        now=now,
        tokens=tokens,
        budgets=budgets,
        pollers=pollers,
        backfills=backfills,
        contacts=contacts,
        tables=tuple(tables),
        webhooks=WebhookReceipts(
            persisted=receipts["persisted"],
            claimed=receipts["claimed"],
            last_persisted_at=receipts["last_persisted_at"],
        ),
        commands=commands,
        offsets=offsets,
    )
