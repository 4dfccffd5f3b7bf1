"""OAuth tokens in the real PostgreSQL: the refresh race, 401s, encryption at rest."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from services.ghl import AuthError, GhlSettings
from services.ghl._crypto import TokenCipher, generate_key
from services.ghl._oauth import OAuthClient
from services.ghl._tokens_pg import PostgresTokenStore
from services.ghl.tokens import OAuthTokenProvider
from tests.factories.ghl import stored_token

pytestmark = pytest.mark.integration

LOC = "loc-race-000000000001"
PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


class TokenEndpoint:
    """GHL's token endpoint as far as refreshes go: every refresh token works exactly once."""

    def __init__(self, first_refresh: str) -> None:
        self.valid = {first_refresh}
        self.refreshes = 0
        self.rejected = 0
        self.issued: list[str] = []
        self._numbers = itertools.count(1)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token"
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["grant_type"] == "refresh_token"
        assert form["client_secret"] == "app-secret-value"
        self.refreshes += 1
        await asyncio.sleep(0.05)  # widen the window in which a second refresh could slip in
        if form["refresh_token"] not in self.valid:
            self.rejected += 1
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "refresh token is invalid, expired, or already used",
                },
            )
        self.valid.discard(form["refresh_token"])
        n = next(self._numbers)
        access, refresh = f"access-secret-{n}", f"refresh-secret-{n}"
        self.valid.add(refresh)
        self.issued.append(access)
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": 86399,
                "token_type": "Bearer",
                "scope": "contacts.readonly",
                "locationId": LOC,
                "userType": "Location",
            },
        )


@pytest.fixture
def settings() -> GhlSettings:
    return GhlSettings.model_validate(
        {
            "base_url": "https://ghl.test",
            "client_id": "app-client",
            "client_secret": "app-secret-value",
            "token_encryption_key": generate_key(),
        }
    )


async def _seed(store: PostgresTokenStore, *, expires_in: float) -> None:
    await store.save(
        stored_token(LOC, "access-secret-0", "refresh-secret-0", expires_in=expires_in)
    )


async def test_concurrent_callers_in_many_processes_refresh_exactly_once(
    new_pool: PoolFactory, settings: GhlSettings, pg: asyncpg.Connection
) -> None:
    endpoint = TokenEndpoint("refresh-secret-0")
    cipher = TokenCipher(settings.token_encryption_key)
    stores = [PostgresTokenStore(await new_pool(), cipher) for _ in range(4)]
    await _seed(stores[0], expires_in=60)  # inside the 300 s refresh margin: due now
    oauth = [OAuthClient(settings, transport=httpx.MockTransport(endpoint)) for _ in stores]
    providers = [
        OAuthTokenProvider(store, client, refresh_margin=300)
        for store, client in zip(stores, oauth, strict=True)
    ]
    tokens = await asyncio.gather(*(providers[i % 4].access_token(LOC) for i in range(60)))
    assert endpoint.refreshes == 1
    assert endpoint.rejected == 0
    assert set(tokens) == {"access-secret-1"}
    row = await pg.fetchrow("SELECT refresh_count FROM ghl_tokens WHERE location_id = $1", LOC)
    assert row is not None
    assert row["refresh_count"] == 1
    # The stored refresh token is the live one: the location is not locked out.
    stored = await stores[1].load(LOC)
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() in endpoint.valid
    for client in oauth:
        await client.aclose()


async def test_a_401_in_another_process_uses_the_pair_already_refreshed(
    new_pool: PoolFactory, settings: GhlSettings
) -> None:
    endpoint = TokenEndpoint("refresh-secret-0")
    cipher = TokenCipher(settings.token_encryption_key)
    store_a = PostgresTokenStore(await new_pool(), cipher)
    store_b = PostgresTokenStore(await new_pool(), cipher)
    await _seed(store_a, expires_in=3600)
    transport = httpx.MockTransport(endpoint)
    a = OAuthTokenProvider(store_a, OAuthClient(settings, transport=transport))
    b = OAuthTokenProvider(store_b, OAuthClient(settings, transport=transport))
    assert await a.access_token(LOC) == await b.access_token(LOC) == "access-secret-0"
    # GHL rejects the old token in both processes at once: one refresh, both get the new one.
    renewed = await asyncio.gather(
        a.refresh(LOC, rejected="access-secret-0"), b.refresh(LOC, rejected="access-secret-0")
    )
    assert renewed == ["access-secret-1", "access-secret-1"]
    assert endpoint.refreshes == 1


async def test_a_spent_refresh_token_is_an_auth_error_not_a_loop(
    new_pool: PoolFactory, settings: GhlSettings
) -> None:
    endpoint = TokenEndpoint("some-other-token")
    store = PostgresTokenStore(await new_pool(), TokenCipher(settings.token_encryption_key))
    await _seed(store, expires_in=-10)
    provider = OAuthTokenProvider(
        store, OAuthClient(settings, transport=httpx.MockTransport(endpoint))
    )
    with pytest.raises(AuthError) as info:
        await provider.access_token(LOC)
    assert "refresh-secret-0" not in str(info.value)
    assert endpoint.refreshes == 1


async def test_tokens_are_encrypted_at_rest(
    new_pool: PoolFactory, settings: GhlSettings, pg: asyncpg.Connection
) -> None:
    store = PostgresTokenStore(await new_pool(), TokenCipher(settings.token_encryption_key))
    await _seed(store, expires_in=3600)
    row = await pg.fetchrow(
        "SELECT t::text AS whole, access_token, refresh_token FROM ghl_tokens t"
        " WHERE location_id = $1",
        LOC,
    )
    assert row is not None
    for plain in ("access-secret-0", "refresh-secret-0"):
        assert plain not in row["whole"]
        assert plain.encode() not in row["access_token"]
        assert plain.encode() not in row["refresh_token"]
        assert plain.encode().hex() not in row["whole"]
    # A wrong key cannot read them, and a ciphertext moved to another column fails too.
    other = PostgresTokenStore(await new_pool(), TokenCipher(SecretStr(generate_key())))
    with pytest.raises(AuthError):
        await other.load(LOC)
    await pg.execute("UPDATE ghl_tokens SET refresh_token = access_token")
    with pytest.raises(AuthError):
        await store.load(LOC)


async def test_no_secret_reaches_the_logs(
    new_pool: PoolFactory, settings: GhlSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = TokenEndpoint("refresh-secret-0")
    store = PostgresTokenStore(await new_pool(), TokenCipher(settings.token_encryption_key))
    await _seed(store, expires_in=-1)
    provider = OAuthTokenProvider(
        store, OAuthClient(settings, transport=httpx.MockTransport(endpoint))
    )
    await provider.access_token(LOC)
    text = caplog.text + repr(provider) + repr(store) + repr(await store.load(LOC))
    assert "refreshed the GHL token" in caplog.text
    for secret in (
        "access-secret-0",
        "access-secret-1",
        "refresh-secret-0",
        "refresh-secret-1",
        "app-secret-value",
        settings.token_encryption_key.get_secret_value(),
    ):
        assert secret not in text
