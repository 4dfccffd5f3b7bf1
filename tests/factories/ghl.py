"""The GHL client on the simulator in process: tokens minted through the simulator's admin API,
an in-memory rate limiter with a budget the tests do not reach unless they say so; a stored
token pair that expires when a test says; a transport handler that refuses the first connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from services.ghl import (
    GhlClient,
    GhlSettings,
    InMemoryRateLimiter,
    StaticTokenProvider,
    build_client,
)
from services.ghl.tokens import StoredToken

__all__ = ["SIM", "RefusedOnce", "mint_tokens", "simulator_client", "stored_token"]

SIM = "http://simulator.test"
"""The base URL the simulator answers on through `httpx.ASGITransport`."""


async def mint_tokens(admin: httpx.AsyncClient, locations: Iterable[str]) -> dict[str, SecretStr]:
    """A location access token for each of `locations`, from `POST /_admin/tokens`."""
    tokens: dict[str, SecretStr] = {}
    for location_id in locations:
        minted = (await admin.post("/_admin/tokens", json={"locationId": location_id})).json()
        tokens[location_id] = SecretStr(minted["access_token"])
    return tokens


def simulator_client(
    transport: httpx.AsyncBaseTransport,
    tokens: SecretStr | Mapping[str, SecretStr],
    **settings: Any,
) -> tuple[GhlClient, InMemoryRateLimiter]:
    """The GHL client on `transport` with `tokens`, and its in-memory rate limiter (what the
    tests read spending from). `settings` are `GhlSettings` fields; the budget defaults to
    100,000 requests a second."""
    values = {"rate_limit_requests": 100_000, "rate_limit_interval": 1.0, **settings}
    ghl = GhlSettings(base_url=SIM, **values)
    limiter = InMemoryRateLimiter.from_settings(ghl)
    client = build_client(
        ghl, token_provider=StaticTokenProvider(tokens), rate_limiter=limiter, transport=transport
    )
    return client, limiter


def stored_token(
    location_id: str, access: str, refresh: str, *, expires_in: float, **fields: Any
) -> StoredToken:
    """The token pair `access` / `refresh` of `location_id`, expiring `expires_in` seconds from
    now; `fields` are any other `StoredToken` fields."""
    return StoredToken(
        location_id=location_id,
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        **fields,
    )


class RefusedOnce:
    """An `httpx.MockTransport` handler: the first request fails to connect (it never left),
    the next ones get `answers` in turn; `calls` counts the requests it saw."""

    def __init__(self, *answers: httpx.Response) -> None:
        self._answers = iter(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return next(self._answers)
