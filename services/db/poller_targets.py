"""The onboarding contract: how another component tells the pollers which locations to poll.

    await register_location(pool, location_id)   # start: backfill, then poll
    await remove_location(pool, location_id)     # stop now (and, with forget=True, start over
                                                 # with a new backfill if registered again)

Both write table `poller_targets` and `NOTIFY ghl_sync_poller_targets`; every poller instance
listens and re-balances its leases at once (else at its next lease tick, a sixth of
`GHL_SYNC_POLLER_LEASE_SECONDS`). The poller needs a token for the location to call GHL;
registering without one is allowed (the location waits, its cycles log auth errors).
Locations with a stored token are polled unless removed. See services/poller/README.md.

The contract lives in `services.db` (shared I/O) so that the installs process can onboard a
location without importing the poller; `services.poller.targets` re-exports it.
"""

from __future__ import annotations

import asyncpg

__all__ = ["CHANNEL", "register_location", "remove_location"]

CHANNEL = "ghl_sync_poller_targets"

_Executor = asyncpg.Pool | asyncpg.Connection


async def register_location(db: _Executor, location_id: str, *, reason: str = "") -> None:
    """Poll `location_id` from now on; a location without a finished backfill is backfilled
    first by whichever instance takes it. Idempotent."""
    if not location_id:
        raise ValueError("location_id is empty")
    await db.execute(
        "WITH t AS (INSERT INTO poller_targets (location_id, enabled, reason) VALUES ($1, true, $2)"
        " ON CONFLICT (location_id) DO UPDATE SET enabled = true, reason = EXCLUDED.reason,"
        " changed_at = now() RETURNING 1) SELECT pg_notify($3, $1)",
        location_id,
        reason or None,
        CHANNEL,
    )


async def remove_location(
    db: _Executor, location_id: str, *, reason: str = "", forget: bool = False
) -> None:
    """Stop polling `location_id` now, on every instance. `forget` also drops its poller
    state and backfill progress, so a later `register_location` onboards it afresh.
    Idempotent. Events already in the log stay (they are history)."""
    if not location_id:
        raise ValueError("location_id is empty")
    await db.execute(
        "WITH t AS (INSERT INTO poller_targets (location_id, enabled, reason)"
        " VALUES ($1, false, $2)"
        " ON CONFLICT (location_id) DO UPDATE SET enabled = false, reason = EXCLUDED.reason,"
        " changed_at = now() RETURNING 1),"
        " l AS (DELETE FROM poller_leases WHERE location_id = $1 RETURNING 1)"
        " SELECT pg_notify($3, $1)",
        location_id,
        reason or None,
        CHANNEL,
    )
    if forget:
        for table in ("poller_locations", "poller_contacts", "poller_digests", "backfill_progress",
                      "poller_plans"):  # fmt: skip
            await db.execute(f"DELETE FROM {table} WHERE location_id = $1", location_id)
