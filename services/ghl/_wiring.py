"""Assembling the pieces for a service: the token provider and the rate limiter."""

from __future__ import annotations

import asyncpg
import httpx

from services.ghl._crypto import TokenCipher
from services.ghl._oauth import OAuthClient
from services.ghl._ratelimit import InMemoryRateLimiter, RateLimiter
from services.ghl._ratelimit_pg import PostgresRateLimiter
from services.ghl._tokens_pg import PostgresTokenStore
from services.ghl.settings import GhlSettings
from services.ghl.tokens import OAuthTokenProvider, StaticTokenProvider, TokenProvider

__all__ = ["build_rate_limiter", "build_token_provider"]


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
    store = PostgresTokenStore(pool, TokenCipher(settings.token_encryption_key))
    return OAuthTokenProvider(
        store,
        OAuthClient(settings, transport=transport),
        refresh_margin=settings.refresh_margin,
    )


def build_rate_limiter(settings: GhlSettings, *, pool: asyncpg.Pool | None) -> RateLimiter:
    """The shared PostgreSQL ledger, or an in-process one when there is no database."""
    if pool is None:
        return InMemoryRateLimiter.from_settings(settings)
    return PostgresRateLimiter(pool, settings)
