"""Fixtures of the GHL client's unit tests: a client over `httpx.MockTransport`, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from ghl_helpers import SPECS, ClientFactory, Handler, fast_settings
from pydantic import SecretStr

from services.ghl import (
    GhlClient,
    InMemoryRateLimiter,
    RateLimiter,
    StaticTokenProvider,
    TokenProvider,
    build_client,
)


@pytest.fixture
def make_client() -> ClientFactory:
    """Builds a client whose network is `handler`."""

    def make(
        handler: Handler,
        *,
        tokens: TokenProvider | None = None,
        limiter: RateLimiter | None = None,
        **settings: Any,
    ) -> GhlClient:
        return build_client(
            fast_settings(**settings),
            token_provider=tokens or StaticTokenProvider(SecretStr("pit-static-token")),
            rate_limiter=limiter or InMemoryRateLimiter(requests=100_000, interval=1.0),
            transport=httpx.MockTransport(handler),
        )

    return make


@pytest.fixture(scope="session")
def specs() -> Path:
    """The spec folder; missing specs fail the test rather than skip it."""
    if not (SPECS / "apps" / "contacts.json").is_file():
        pytest.fail(f"GHL specs not found under {SPECS}")
    return SPECS
