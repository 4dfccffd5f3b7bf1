"""Agency installs for `ghl-sync status`: companies, their locations, each one's state
(tables of migration 0070, written by `services.installs`)."""

from __future__ import annotations

import asyncpg

from services.status._rows import models_of
from services.status.report import CompanyState, InstallState

__all__ = ["read_installs"]


async def read_installs(
    conn: asyncpg.Connection,
) -> tuple[tuple[CompanyState, ...], tuple[InstallState, ...]]:
    """Companies holding a Company token and every installation (empty before migration 0070)."""
    if not await conn.fetchval("SELECT to_regclass('ghl_installations') IS NOT NULL"):
        return (), ()
    companies = await conn.fetch(
        "SELECT c.company_id, c.install_to_future_locations, c.refresh_count,"
        " extract(epoch FROM c.expires_at - now())::float8 AS token_expires_in_seconds,"
        " count(i.location_id) FILTER (WHERE i.state = 'installed') AS installed,"
        " count(i.location_id) FILTER (WHERE i.state = 'pending') AS pending,"
        " count(i.location_id) FILTER (WHERE i.state = 'uninstalled') AS uninstalled"
        " FROM ghl_company_tokens c LEFT JOIN ghl_installations i USING (company_id)"
        " GROUP BY c.company_id ORDER BY c.company_id"
    )
    rows = await conn.fetch(
        "SELECT i.company_id, i.location_id, m.name, i.state, i.state_at AS since, i.source,"
        " i.onboarded_at, t.location_id IS NOT NULL AS has_token,"
        " c.company_id IS NOT NULL AS company_authorised"
        " FROM ghl_installations i"
        " LEFT JOIN ghl_location_companies m ON m.location_id = i.location_id"
        " LEFT JOIN ghl_tokens t ON t.location_id = i.location_id"
        " LEFT JOIN ghl_company_tokens c ON c.company_id = i.company_id"
        " ORDER BY i.company_id, i.location_id"
    )
    orphans = await conn.fetch(
        "SELECT location_id, event_at FROM ghl_install_orphans ORDER BY location_id"
    )
    return (
        models_of(CompanyState, companies),
        models_of(InstallState, rows)
        + tuple(
            InstallState(
                company_id=None,
                location_id=r["location_id"],
                name=None,
                state="orphan",
                since=r["event_at"],
                source="webhook",
                onboarded_at=None,
                has_token=False,
                company_authorised=False,
            )
            for r in orphans
        ),
    )
