"""Assembling the pieces for a service: the token provider and the rate limiter.

OAuth token providers mint location tokens from an agency's Company token when the location
is installed under an authorised company (tables of migration 0070): on first use, and when a
location refresh is refused. The mint's `locationToken` call books the company's budget.
"""

from __future__ import annotations

import asyncpg
import httpx

from schemas.ghl_errors import AuthError
from services.ghl._crypto import TokenCipher
from services.ghl._oauth import OAuthClient
from services.ghl._ratelimit import InMemoryRateLimiter, RateLimiter
from services.ghl._ratelimit_pg import PostgresRateLimiter
from services.ghl._tokens_pg import PostgresTokenStore
from services.ghl.settings import GhlSettings
from services.ghl.tokens import (
    CompanyMinter,
    OAuthTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)

__all__ = [
    "build_oauth_providers",
    "build_rate_limiter",
    "build_token_provider",
    "check_token_settings",
    "installed_company",
]


async def installed_company(pool: asyncpg.Pool, location_id: str) -> str | None:
    """The company a location's token may be minted from: the location is installed under it
    and the company holds a Company token. None when the location has no installation (or
    its company no token); `AuthError` naming the reason when it is uninstalled or pending,
    so whoever asked for the token (the writer, enrichment) fails with that reason."""
    row = await pool.fetchrow(
        "SELECT i.company_id, i.state, i.state_at, c.company_id IS NOT NULL AS authorised"
        " FROM ghl_installations i LEFT JOIN ghl_company_tokens c USING (company_id)"
        " WHERE i.location_id = $1",
        location_id,
    )
    if row is None:
        return None
    if row["state"] == "uninstalled":
        raise AuthError(
            f"location {location_id} uninstalled the app at {row['state_at'].isoformat()}; "
            "nothing is read from or written to it"
        )
    if row["state"] == "pending":
        raise AuthError(
            f"location {location_id} is installed in GHL but company {row['company_id']} has "
            "not authorised ghl-sync yet (run `ghl-sync auth` as the agency)"
        )
    return row["company_id"] if row["authorised"] else None


def build_oauth_providers(
    settings: GhlSettings,
    *,
    pool: asyncpg.Pool,
    transport: httpx.AsyncBaseTransport | None = None,
    company_limiter: RateLimiter | None = None,
) -> tuple[OAuthTokenProvider, OAuthTokenProvider, OAuthClient]:
    """Location tokens (minting from Company tokens), Company tokens, and their OAuth client;
    `company_limiter` (default: the shared PostgreSQL ledger) meters the company calls."""
    cipher = TokenCipher(settings.token_encryption_key)
    oauth = OAuthClient(
        settings,
        transport=transport,
        rate_limiter=company_limiter or PostgresRateLimiter(pool, settings),
    )
    companies = OAuthTokenProvider(
        PostgresTokenStore.companies(pool, cipher), oauth, refresh_margin=settings.refresh_margin
    )

    async def company_of(location_id: str) -> str | None:
        return await installed_company(pool, location_id)

    locations = OAuthTokenProvider(
        PostgresTokenStore(pool, cipher),
        oauth,
        refresh_margin=settings.refresh_margin,
        minter=CompanyMinter(companies, oauth, company_of),
    )
    return locations, companies, oauth


def check_token_settings(settings: GhlSettings) -> None:
    """Raise the `ValueError` that `build_token_provider` would, before anything starts: a
    service reading OAuth tokens needs a valid `GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY`."""
    if settings.private_integration_token is None:
        TokenCipher(settings.token_encryption_key)


def build_token_provider(
    settings: GhlSettings,
    *,
    pool: asyncpg.Pool | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenProvider:
    """The settings' Private Integration Token if set, else OAuth tokens kept in `pool`."""
    if settings.private_integration_token is not None:
        return StaticTokenProvider(settings.private_integration_token)
    if pool is None:
        raise ValueError("OAuth tokens need a database pool (or set a private integration token)")
    return build_oauth_providers(settings, pool=pool, transport=transport)[0]


def build_rate_limiter(settings: GhlSettings, *, pool: asyncpg.Pool | None) -> RateLimiter:
    """The shared PostgreSQL ledger, or an in-process one when there is no database."""
    if pool is None:
        return InMemoryRateLimiter.from_settings(settings)
    return PostgresRateLimiter(pool, settings)
