"""The demo as an agency install: one consent for every location (and future ones), and a
sub-account added during the live phase that the app is installed on by itself."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from services.ghl import GhlSettings, OAuthClient, TokenGrant
from services.installs import Discovery, InstallSettings, build_agency

__all__ = ["AGENCY_SCOPES", "COMPANY", "add_future_location", "agency_consent", "agency_grant"]

COMPANY = "SimCompany0000000001"
"""The simulator's seeded agency (`GHL_SYNC_SIMULATOR_COMPANY_ID`'s default)."""

AGENCY_SCOPES = "oauth.readonly oauth.write locations.readonly " + GhlSettings().scopes
"""An agency install's scopes: list installed locations, mint their tokens, and the data."""


async def agency_grant(ghl: GhlSettings, *, state: str) -> TokenGrant:
    """The simulator's agency user approves the app for all its sub-accounts and future ones;
    returns the code exchange's answer (a Company token)."""
    oauth = OAuthClient(ghl)
    try:
        async with httpx.AsyncClient(timeout=60) as browser:
            redirect = await browser.get(
                oauth.consent_url(state=state) + f"&approve=true&companyId={COMPANY}"
                "&approveAllLocations=true&installToFutureLocations=true"
            )
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        return await oauth.exchange_code(code)
    finally:
        await oauth.aclose()


async def agency_consent(
    ghl: GhlSettings, pool: asyncpg.Pool, installs: InstallSettings
) -> Discovery:
    """The agency consent (`agency_grant`); its Company token then onboards every installed
    location (as `ghl-sync auth`)."""
    grant = await agency_grant(ghl, state="demo")
    agency = build_agency(ghl, installs, pool=pool)
    try:
        found = await agency.authorise(grant)
    finally:
        await agency.aclose()
    assert found is not None, "the agency consent gave no Company token"
    return found


async def add_future_location(sim_url: str, contacts: int) -> str:
    """A new sub-account of the agency (the simulator sends LocationCreate and a
    future-location INSTALL); returns its id."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=60) as admin:
        answer = await admin.post(
            f"/_admin/companies/{COMPANY}/locations", json={"contacts": contacts}
        )
        answer.raise_for_status()
        location: str = answer.json()["locationId"]
    return location
