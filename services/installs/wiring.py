"""`build_agency`: an `Agency` over one pool, from the settings."""

from __future__ import annotations

import asyncpg
import httpx

from services.ghl import GhlSettings, RateLimiter
from services.ghl._wiring import build_oauth_providers
from services.installs.agency import Agency, Emit
from services.installs.settings import InstallSettings
from services.installs.store import InstallStore

__all__ = ["build_agency"]


def build_agency(
    ghl: GhlSettings,
    settings: InstallSettings,
    *,
    pool: asyncpg.Pool,
    transport: httpx.AsyncBaseTransport | None = None,
    company_limiter: RateLimiter | None = None,
    emit: Emit | None = None,
) -> Agency:
    """The agency machinery; its OAuth client meters company calls on `company_limiter`
    (default: the shared PostgreSQL ledger, keyed by company id)."""
    tokens, companies, oauth = build_oauth_providers(
        ghl, pool=pool, transport=transport, company_limiter=company_limiter
    )
    return Agency(
        store=InstallStore(pool),
        tokens=tokens,
        companies=companies,
        oauth=oauth,
        settings=settings,
        app_id=settings.app_id_for(ghl.client_id),
        emit=emit,
    )
