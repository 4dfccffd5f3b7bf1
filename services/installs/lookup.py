"""Is a location installed? For the writer, enrichment and anything acting for a location.

    status = await install_status(pool, location_id)
    if not status.installed:
        raise SomeRefusal(status.reason)

A location is installed when its installation is `installed`, or when it has no installation
row but holds a token (a per-location install made with `ghl-sync auth` before agency installs
existed). Pending and uninstalled locations, and locations without either, are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = ["InstallStatus", "install_status", "is_installed"]


@dataclass(frozen=True, slots=True)
class InstallStatus:
    """A location's install state and, when it is not installed, why."""

    location_id: str
    installed: bool
    state: str
    company_id: str | None
    since: datetime | None
    reason: str


async def install_status(
    db: asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, location_id: str
) -> InstallStatus:
    """The location's install state (one query)."""
    row = await db.fetchrow(
        "SELECT i.state, i.company_id, i.state_at,"
        " EXISTS (SELECT 1 FROM ghl_tokens t WHERE t.location_id = $1) AS has_token"
        " FROM (SELECT 1) AS one"
        " LEFT JOIN ghl_installations i ON i.location_id = $1",
        location_id,
    )
    assert row is not None
    state, company, since = row["state"], row["company_id"], row["state_at"]
    if state is None:
        if row["has_token"]:
            return InstallStatus(location_id, True, "installed", None, None, "installed")
        return InstallStatus(
            location_id,
            False,
            "unknown",
            None,
            None,
            f"location {location_id} is not installed (no token, no installation): "
            "install the app on it or run `ghl-sync auth`",
        )
    if state == "installed":
        return InstallStatus(location_id, True, state, company, since, "installed")
    if state == "pending":
        reason = (
            f"location {location_id} is installed in GHL but company {company} has not "
            "authorised ghl-sync yet: run `ghl-sync auth` as the agency"
        )
    else:
        reason = (
            f"location {location_id} uninstalled the app at {since.isoformat()}; "
            "nothing is read from or written to it"
        )
    return InstallStatus(location_id, False, state, company, since, reason)


async def is_installed(
    db: asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, location_id: str
) -> bool:
    """Whether ghl-sync may act for the location now."""
    return (await install_status(db, location_id)).installed
