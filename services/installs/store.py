"""The install state in PostgreSQL (migration 0070): installations, the location -> company
map, orphan INSTALLs, and the log of every fact with its outcome and reason.

`apply` runs `machine.decide` for one location inside a transaction holding the location's
advisory lock, so concurrent facts about a location (a webhook and a reconcile pass, two
handler processes) are decided one after the other on the stored state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import asyncpg

from services.installs.machine import (
    Decision,
    Fact,
    Installation,
    Listed,
    Outcome,
    State,
    decide,
)

__all__ = ["CompanyRow", "InstallStore", "LocationRow"]

_log = logging.getLogger("services.installs")

Conn = asyncpg.Pool | asyncpg.pool.PoolConnectionProxy | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class CompanyRow:
    """A company that authorised the app (holds a Company token)."""

    company_id: str
    install_to_future_locations: bool
    approve_all_locations: bool
    expires_at: datetime
    refresh_count: int


@dataclass(frozen=True, slots=True)
class LocationRow:
    """An installation with what `status` shows of it."""

    company_id: str
    location_id: str
    name: str | None
    state: str
    state_at: datetime
    onboarded_at: datetime | None
    has_token: bool


class _LogRow(NamedTuple):
    """One row of `ghl_install_log`, in its columns' order (also the order `_FACT_LOG` names
    them in)."""

    kind: str
    company_id: str | None
    location_id: str | None
    event_at: datetime | None
    outcome: str
    reason: str


_FACT_LOG = "install fact %s company=%s location=%s at=%s: %s (%s)"
"""The log line of one fact, from a `_LogRow`."""


def _installation(row: asyncpg.Record) -> Installation:
    return Installation(
        company_id=row["company_id"],
        location_id=row["location_id"],
        state=State(row["state"]),
        state_at=row["state_at"],
        source=row["source"],
    )


class InstallStore:
    """Reads and writes the install tables on one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def __repr__(self) -> str:
        return "InstallStore()"

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool the store reads and writes on."""
        return self._pool

    async def apply(self, fact: Fact) -> Decision:
        """Decide `fact` on the stored installation and store the result; logged."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"install:{fact.location_id}"
            )
            row = await conn.fetchrow(
                "SELECT company_id, location_id, state, state_at, source FROM ghl_installations"
                " WHERE location_id = $1",
                fact.location_id,
            )
            current = _installation(row) if row is not None else None
            authorised = bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM ghl_company_tokens WHERE company_id = $1)"
                    " OR EXISTS (SELECT 1 FROM ghl_tokens WHERE location_id = $2)",
                    fact.company_id,
                    fact.location_id,
                )
            )
            decision = decide(current, fact, authorised=authorised)
            nxt = decision.next
            if nxt is not None:
                await conn.execute(
                    "INSERT INTO ghl_installations (company_id, location_id, state, state_at,"
                    " source, installed_at, uninstalled_at)"
                    " VALUES ($1, $2, $3, $4, $5,"
                    "  CASE WHEN $3 = 'installed' THEN now() END,"
                    "  CASE WHEN $3 = 'uninstalled' THEN now() END)"
                    " ON CONFLICT (location_id) DO UPDATE SET company_id = EXCLUDED.company_id,"
                    " state = EXCLUDED.state, state_at = EXCLUDED.state_at,"
                    " source = EXCLUDED.source, updated_at = now(),"
                    " installed_at = CASE WHEN EXCLUDED.state = 'installed'"
                    "  AND ghl_installations.state <> 'installed' THEN now()"
                    "  ELSE ghl_installations.installed_at END,"
                    " onboarded_at = CASE WHEN EXCLUDED.state = 'installed'"
                    "  THEN ghl_installations.onboarded_at END,"
                    " uninstalled_at = CASE WHEN EXCLUDED.state = 'uninstalled'"
                    "  AND ghl_installations.state <> 'uninstalled' THEN now()"
                    "  ELSE ghl_installations.uninstalled_at END",
                    nxt.company_id,
                    nxt.location_id,
                    nxt.state.value,
                    nxt.state_at,
                    nxt.source,
                )
                await self._learn(conn, nxt.location_id, nxt.company_id, None, nxt.source)
            # A listing confirming what is known is routine (every location at every
            # reconcile pass): not logged, or the log would grow by the agency's size each time.
            routine = isinstance(fact, Listed) and decision.outcome in (
                Outcome.DUPLICATE,
                Outcome.IGNORED,
            )
            logged = _LogRow(
                type(fact).__name__,
                fact.company_id,
                fact.location_id,
                fact.at,
                decision.outcome.value,
                decision.reason,
            )
            if not routine:
                await self._log(conn, logged)
        level = logging.INFO if decision.outcome is Outcome.APPLIED else logging.WARNING
        if decision.outcome is Outcome.DUPLICATE:
            level = logging.INFO
        if routine:
            level = logging.DEBUG
        # After the commit, so a decision rolled back is never logged as taken.
        _log.log(level, _FACT_LOG, *logged)
        return decision

    async def note(
        self,
        *,
        kind: str,
        outcome: str,
        reason: str,
        company_id: str | None = None,
        location_id: str | None = None,
        event_at: datetime | None = None,
    ) -> None:
        """Log a fact that changed no installation (bad input, orphans, company events)."""
        logged = _LogRow(kind, company_id, location_id, event_at, outcome, reason)
        await self._log(self._pool, logged)
        _log.log(logging.INFO if outcome == "applied" else logging.WARNING, _FACT_LOG, *logged)

    @staticmethod
    async def _log(conn: Conn, row: _LogRow) -> None:
        await conn.execute(
            "INSERT INTO ghl_install_log (kind, company_id, location_id, event_at, outcome,"
            " reason) VALUES ($1, $2, $3, $4, $5, $6)",
            *row,
        )

    @staticmethod
    async def _learn(
        conn: Conn, location_id: str, company_id: str, name: str | None, source: str
    ) -> None:
        await conn.execute(
            "INSERT INTO ghl_location_companies (location_id, company_id, name, learned_from)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (location_id) DO UPDATE SET"
            " company_id = EXCLUDED.company_id,"
            " name = coalesce(EXCLUDED.name, ghl_location_companies.name)",
            location_id,
            company_id,
            name,
            source,
        )

    async def learn(
        self, location_id: str, company_id: str, *, name: str | None, source: str
    ) -> datetime | None:
        """Record that `location_id` belongs to `company_id`; returns the time of an orphan
        INSTALL waiting for this knowledge (now taken off the orphan list), if any."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._learn(conn, location_id, company_id, name, source)
            return await conn.fetchval(  # type: ignore[no-any-return]
                "DELETE FROM ghl_install_orphans WHERE location_id = $1 RETURNING event_at",
                location_id,
            )

    async def company_of(self, location_id: str) -> str | None:
        """The company a location belongs to, as far as the map knows."""
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            "SELECT company_id FROM ghl_location_companies WHERE location_id = $1"
            " UNION ALL SELECT company_id FROM ghl_installations WHERE location_id = $1"
            " LIMIT 1",
            location_id,
        )

    async def mintable_company(self, location_id: str) -> str | None:
        """The company to mint the location's token from: the location is installed under it
        and it holds a Company token. None otherwise."""
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            "SELECT i.company_id FROM ghl_installations i"
            " JOIN ghl_company_tokens c ON c.company_id = i.company_id"
            " WHERE i.location_id = $1 AND i.state = 'installed'",
            location_id,
        )

    async def orphan(self, location_id: str, event_at: datetime) -> None:
        """Hold an INSTALL that named no company for a location the map does not know."""
        await self._pool.execute(
            "INSERT INTO ghl_install_orphans (location_id, event_at) VALUES ($1, $2)"
            " ON CONFLICT (location_id) DO UPDATE SET"
            " event_at = greatest(ghl_install_orphans.event_at, EXCLUDED.event_at)",
            location_id,
            event_at,
        )

    async def orphans(self) -> list[str]:
        """Locations whose INSTALL is waiting for its company to be known."""
        rows = await self._pool.fetch("SELECT location_id FROM ghl_install_orphans ORDER BY 1")
        return [r["location_id"] for r in rows]

    async def mark_onboarded(self, location_id: str) -> None:
        """The location's token is minted and it is handed to the poller."""
        await self._pool.execute(
            "UPDATE ghl_installations SET onboarded_at = now(), updated_at = now()"
            " WHERE location_id = $1 AND state = 'installed'",
            location_id,
        )

    async def save_company_flags(
        self, company_id: str, *, user_id: str | None, future: bool, all_locations: bool
    ) -> None:
        """What the code exchange said about the company's install."""
        await self._pool.execute(
            "UPDATE ghl_company_tokens SET user_id = $2, install_to_future_locations = $3,"
            " approve_all_locations = $4, updated_at = now() WHERE company_id = $1",
            company_id,
            user_id,
            future,
            all_locations,
        )

    async def set_future_locations(self, company_id: str, future: bool) -> None:
        """installedLocations' current `installToFutureLocations`."""
        await self._pool.execute(
            "UPDATE ghl_company_tokens SET install_to_future_locations = $2 WHERE company_id = $1",
            company_id,
            future,
        )

    async def forget_company(self, company_id: str) -> bool:
        """The agency uninstalled the app: its Company token is dead."""
        done = await self._pool.execute(
            "DELETE FROM ghl_company_tokens WHERE company_id = $1", company_id
        )
        return bool(done.endswith(" 1"))

    async def companies(self) -> list[CompanyRow]:
        """Every company holding a Company token."""
        rows = await self._pool.fetch(
            "SELECT company_id, install_to_future_locations, approve_all_locations, expires_at,"
            " refresh_count FROM ghl_company_tokens ORDER BY company_id"
        )
        return [CompanyRow(**dict(r)) for r in rows]

    async def has_company(self, company_id: str) -> bool:
        """The company holds a Company token."""
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM ghl_company_tokens WHERE company_id = $1)",
                company_id,
            )
        )

    async def installations(
        self, company_id: str | None = None, *, state: State | None = None
    ) -> list[Installation]:
        """Installations, of one company and/or in one state."""
        rows = await self._pool.fetch(
            "SELECT company_id, location_id, state, state_at, source FROM ghl_installations"
            " WHERE ($1::text IS NULL OR company_id = $1) AND ($2::text IS NULL OR state = $2)"
            " ORDER BY company_id, location_id",
            company_id,
            state.value if state is not None else None,
        )
        return [_installation(r) for r in rows]

    async def not_onboarded(self) -> list[Installation]:
        """Installed locations whose onboarding has not finished (a failed mint, a crash)."""
        rows = await self._pool.fetch(
            "SELECT company_id, location_id, state, state_at, source FROM ghl_installations"
            " WHERE state = 'installed' AND onboarded_at IS NULL ORDER BY location_id"
        )
        return [_installation(r) for r in rows]

    async def locations(self) -> list[LocationRow]:
        """Every installation with its name and whether a token is stored (for `status`)."""
        rows = await self._pool.fetch(
            "SELECT i.company_id, i.location_id, m.name, i.state, i.state_at, i.onboarded_at,"
            " t.location_id IS NOT NULL AS has_token"
            " FROM ghl_installations i"
            " LEFT JOIN ghl_location_companies m ON m.location_id = i.location_id"
            " LEFT JOIN ghl_tokens t ON t.location_id = i.location_id"
            " ORDER BY i.company_id, i.location_id"
        )
        return [LocationRow(**dict(r)) for r in rows]

    async def log_rows(self, location_id: str | None = None) -> list[asyncpg.Record]:
        """The install log, oldest first (of one location, or all)."""
        return list(
            await self._pool.fetch(
                "SELECT kind, company_id, location_id, event_at, outcome, reason"
                " FROM ghl_install_log WHERE $1::text IS NULL OR location_id = $1 ORDER BY id",
                location_id,
            )
        )
