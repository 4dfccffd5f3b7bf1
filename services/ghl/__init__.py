"""Async GoHighLevel API client: every Contacts operation, OAuth with rotating refresh tokens,
per-location rate limits shared across processes, safe retries.

    limiter = build_rate_limiter(settings, pool=pool)
    tokens = build_token_provider(settings, pool=pool)
    async with build_client(settings, token_provider=tokens, rate_limiter=limiter) as client:
        contact = await client.get_contact(location_id, contact_id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from schemas.ghl_errors import (
        AuthError,
        GhlError,
        NotFound,
        OutcomeUnknown,
        RateLimited,
        ServerError,
        TransportError,
        ValidationFailed,
    )
    from services.ghl._client import GhlClient, build_client, supported_operations
    from services.ghl._crypto import TokenCipher, generate_key
    from services.ghl._oauth import OAuthClient, TokenGrant
    from services.ghl._operations import OPERATIONS, Operation, Safety
    from services.ghl._ratelimit import (
        InMemoryRateLimiter,
        Permit,
        Priority,
        RateLimiter,
        RateLimitHeaders,
        RequestClass,
        charged_to,
    )
    from services.ghl._ratelimit_pg import PostgresRateLimiter
    from services.ghl._tokens_pg import PostgresTokenStore
    from services.ghl._wiring import build_rate_limiter, build_token_provider, check_token_settings
    from services.ghl.settings import GhlSettings
    from services.ghl.tokens import (
        InMemoryTokenStore,
        OAuthTokenProvider,
        StaticTokenProvider,
        StoredToken,
        TokenProvider,
        TokenStore,
    )

__all__ = [
    "OPERATIONS",
    "AuthError",
    "GhlClient",
    "GhlError",
    "GhlSettings",
    "InMemoryRateLimiter",
    "InMemoryTokenStore",
    "NotFound",
    "OAuthClient",
    "OAuthTokenProvider",
    "Operation",
    "OutcomeUnknown",
    "Permit",
    "PostgresRateLimiter",
    "PostgresTokenStore",
    "Priority",
    "RateLimitHeaders",
    "RateLimited",
    "RateLimiter",
    "RequestClass",
    "Safety",
    "ServerError",
    "StaticTokenProvider",
    "StoredToken",
    "TokenCipher",
    "TokenGrant",
    "TokenProvider",
    "TokenStore",
    "TransportError",
    "ValidationFailed",
    "build_client",
    "build_rate_limiter",
    "build_token_provider",
    "charged_to",
    "check_token_settings",
    "generate_key",
    "supported_operations",
]

__getattr__, __dir__ = lazy_exports(__name__)
