"""Agency installs against the simulator's agency (company, consent for all and future
locations, Company tokens, locationToken, installedLocations, app webhooks), on the real
PostgreSQL: bulk install of 200 locations with its INSTALLs before the exchange, uninstall
and reinstall, a future location, concurrent company refreshers, the mint fallback."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from services.ghl import (
    AuthError,
    GhlSettings,
    InMemoryRateLimiter,
    OAuthClient,
    PostgresTokenStore,
    TokenCipher,
    build_client,
    generate_key,
)
from services.ghl._wiring import build_oauth_providers
from services.installs import Agency, InstallSettings, build_agency
from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator

pytestmark = pytest.mark.integration

SIM = "http://simulator.test"
COMPANY = "SimCompany0000000001"
SCOPES = "oauth.readonly oauth.write locations.readonly contacts.readonly contacts.write"


class _Counting(httpx.AsyncBaseTransport):
    """The simulator, counting the agency calls made through it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth/token":
            form = parse_qs((await request.aread()).decode())
            self.calls[f"token:{form.get('user_type', ['-'])[0]}"] += 1
        else:
            self.calls[path] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Clients built on it close it; the simulator lives on."""


class _Hooks(httpx.AsyncBaseTransport):
    """The app's webhook URL: keeps every app event (answers 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(await request.aread())
        if body.get("type") in ("INSTALL", "UNINSTALL", "LocationCreate"):
            self.bodies.append(body)
        return httpx.Response(200)

    def take(self) -> list[dict[str, Any]]:
        taken, self.bodies = self.bodies, []
        return taken


@dataclass
class World:
    admin: httpx.AsyncClient
    hooks: _Hooks
    counting: _Counting
    settings: GhlSettings
    pool: asyncpg.Pool
    agency: Agency
    locations: list[str]

    async def drain(self) -> list[dict[str, Any]]:
        await self.admin.post("/_admin/webhooks/drain")
        return self.hooks.take()

    async def consent(self) -> Any:
        oauth = OAuthClient(self.settings, transport=self.counting)
        url = oauth.consent_url(state="s") + (
            f"&approve=true&companyId={COMPANY}&approveAllLocations=true"
            "&installToFutureLocations=true"
        )
        redirect = await self.admin.get(url.replace(SIM, ""))
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        return await oauth.exchange_code(code)

    def providers(self) -> Any:
        return build_oauth_providers(
            self.settings,
            pool=self.pool,
            transport=self.counting,
            company_limiter=InMemoryRateLimiter(requests=100_000, interval=1.0),
        )

    async def can_read(self, location: str) -> bool:
        client = build_client(
            self.settings,
            token_provider=self.providers()[0],
            rate_limiter=InMemoryRateLimiter(requests=100_000, interval=1.0),
            transport=self.counting,
        )
        async with client:
            page = await client.list_contacts(location, limit=1)
        return bool(page.contacts)


async def _world(test_settings: Any, pg_schema: str, locations: int) -> AsyncIterator[World]:
    hooks = _Hooks()
    simulator = create_simulator(
        SimulatorSettings(
            seed=31,
            locations=locations,
            contacts_per_location=2,
            rate_limit_max=1_000_000,
            webhook_urls=("http://app.test/webhooks",),
        ),
        webhook_transport=hooks,
    )
    transport = httpx.ASGITransport(app=simulator)
    admin = httpx.AsyncClient(transport=transport, base_url=SIM, timeout=60)
    pool = await asyncpg.create_pool(
        test_settings.database_url, min_size=1, max_size=10,
        server_settings={"search_path": pg_schema},
    )  # fmt: skip
    settings = GhlSettings(
        base_url=SIM,
        authorize_url=f"{SIM}/v2/oauth/chooselocation",
        client_id="ghl-sync-simulator",
        client_secret=SecretStr("simulator-client-secret"),
        redirect_uri="http://127.0.0.1:1/callback",
        scopes=SCOPES,
        token_encryption_key=SecretStr(generate_key()),
    )
    counting = _Counting(transport)
    agency = build_agency(
        settings,
        InstallSettings(),
        pool=pool,
        transport=counting,
        company_limiter=InMemoryRateLimiter(requests=100_000, interval=1.0),
    )
    state = (await admin.get("/_admin/state")).json()["locations"]
    try:
        yield World(admin, hooks, counting, settings, pool, agency, sorted(state))
    finally:
        await agency.aclose()
        await admin.aclose()
        await pool.close()


@pytest.fixture
async def world(test_settings: Any, pg_schema: str) -> AsyncIterator[World]:
    async for w in _world(test_settings, pg_schema, locations=3):
        yield w


@pytest.fixture
async def big_world(test_settings: Any, pg_schema: str) -> AsyncIterator[World]:
    async for w in _world(test_settings, pg_schema, locations=200):
        yield w


async def _states(pool: asyncpg.Pool) -> Counter[str]:
    return Counter(r["state"] for r in await pool.fetch("SELECT state FROM ghl_installations"))


async def test_bulk_install_of_200_locations_with_installs_before_the_exchange(
    big_world: World,
) -> None:
    w = big_world
    grant = await w.consent()
    # The simulator installs at consent: its INSTALLs (one agency-level, one per location)
    # reach the handler before the code exchange's answer is stored.
    early = await w.drain()
    assert sum(1 for b in early if b["type"] == "INSTALL" and b.get("locationId")) == 200
    for body in early:
        await w.agency.handle(body)
    assert await _states(w.pool) == {"pending": 200}
    assert w.counting.calls["/oauth/locationToken"] == 0
    found = await w.agency.authorise(grant)
    assert found is not None
    assert (found.listed, found.failed) == (200, 0)
    assert await _states(w.pool) == {"installed": 200}
    assert w.counting.calls["/oauth/locationToken"] == 200  # each location minted once
    assert w.counting.calls["/oauth/installedLocations"] == 200 // 20 + 1
    targets = await w.pool.fetchval("SELECT count(*) FROM poller_targets WHERE enabled")
    assert targets == 200
    # The minted tokens are the simulator's own: data reads work.
    assert await w.can_read(w.locations[0])
    assert await w.can_read(w.locations[-1])


async def test_uninstall_then_reinstall(world: World) -> None:
    w = world
    await w.agency.authorise(await w.consent())
    await w.drain()
    gone = w.locations[1]
    # A writer's client that already holds the location's token in memory.
    writer = build_client(
        w.settings,
        token_provider=w.providers()[0],
        rate_limiter=InMemoryRateLimiter(requests=100_000, interval=1.0),
        transport=w.counting,
    )
    await writer.list_contacts(gone, limit=1)
    await w.admin.post("/_admin/uninstall", json={"locationId": gone})
    [uninstall] = await w.drain()
    assert uninstall["type"] == "UNINSTALL"
    await w.agency.handle(uninstall)
    states = {r["location_id"]: r["state"] for r in
              await w.pool.fetch("SELECT location_id, state FROM ghl_installations")}  # fmt: skip
    assert states[gone] == "uninstalled"
    assert (
        await w.pool.fetchval("SELECT enabled FROM poller_targets WHERE location_id = $1", gone)
        is False
    )
    assert await w.can_read(w.locations[0])  # the others are untouched
    # A write (or enrichment) for it fails, and says why: GHL revoked the cached token, the
    # provider will not mint one for an uninstalled location.
    with pytest.raises(AuthError, match="uninstalled the app"):
        await writer.list_contacts(gone, limit=1)
    await writer.aclose()
    await w.admin.post("/_admin/installs", json={"locationId": gone})
    hooks = await w.drain()
    assert [b["type"] for b in hooks] == ["INSTALL"]
    minted = w.counting.calls["/oauth/locationToken"]
    await w.agency.handle(hooks[0])
    assert w.counting.calls["/oauth/locationToken"] == minted + 1
    assert await w.can_read(gone)


async def test_a_future_location_converges_whatever_the_order_of_its_webhooks(
    world: World,
) -> None:
    w = world
    await w.agency.authorise(await w.consent())
    await w.drain()
    for reverse in (False, True):
        created = (await w.admin.post(f"/_admin/companies/{COMPANY}/locations",
                                      json={"contacts": 2})).json()  # fmt: skip
        hooks = await w.drain()
        kinds = sorted(b["type"] for b in hooks)
        assert kinds == ["INSTALL", "LocationCreate"]
        install = next(b for b in hooks if b["type"] == "INSTALL")
        assert "companyId" not in install  # a future-location INSTALL
        for body in sorted(hooks, key=lambda b: b["type"] == "INSTALL", reverse=reverse):
            await w.agency.handle(body)
        state = await w.pool.fetchval(
            "SELECT state FROM ghl_installations WHERE location_id = $1", created["locationId"]
        )
        assert state == "installed", reverse
        assert await w.can_read(created["locationId"])


async def test_concurrent_company_refreshers_refresh_exactly_once(world: World) -> None:
    w = world
    await w.agency.authorise(await w.consent())
    await w.pool.execute("UPDATE ghl_company_tokens SET expires_at = now()")
    companies = [w.providers()[1] for _ in range(4)]
    before = w.counting.calls["token:Company"]
    tokens = await asyncio.gather(*(companies[i % 4].access_token(COMPANY) for i in range(40)))
    assert w.counting.calls["token:Company"] == before + 1
    assert len(set(tokens)) == 1
    # Not locked out: the rotated refresh token is the stored one and works again.
    await w.pool.execute("UPDATE ghl_company_tokens SET expires_at = now()")
    companies[0].forget(COMPANY)
    await companies[0].access_token(COMPANY)
    found = await w.agency.discover(COMPANY)
    assert found.listed == 3


async def test_a_refused_location_refresh_falls_back_to_minting(world: World) -> None:
    w = world
    await w.agency.authorise(await w.consent())
    where = w.locations[0]
    store = PostgresTokenStore(w.pool, TokenCipher(w.settings.token_encryption_key))
    current = await store.load(where)
    assert current is not None
    from dataclasses import replace
    from datetime import UTC, datetime

    # A refresh token GHL no longer accepts, and an access token due for refresh.
    await store.save(replace(current, refresh_token=SecretStr("spent-elsewhere"),
                             expires_at=datetime.now(UTC)))  # fmt: skip
    minted = w.counting.calls["/oauth/locationToken"]
    assert await w.can_read(where)
    assert w.counting.calls["token:Location"] >= 1
    assert w.counting.calls["/oauth/locationToken"] == minted + 1
