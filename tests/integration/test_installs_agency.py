"""Agency installs on the real PostgreSQL: one consent onboards every location, INSTALL before
the exchange, uninstall and reinstall, future locations, company refresh races, the mint
fallback, reconciliation of missed webhooks, and bad input that disturbs nothing.

GHL's OAuth side is `FakeAgencyGhl` (documented behaviour, REFERENCE.md section 4)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from services.ghl import (
    AuthError,
    GhlSettings,
    InMemoryRateLimiter,
    OAuthClient,
    OAuthTokenProvider,
    PostgresTokenStore,
    TokenCipher,
    TokenGrant,
    generate_key,
)
from services.ghl._wiring import build_oauth_providers
from services.installs import (
    Agency,
    InstallSettings,
    build_agency,
    install_status,
    is_installed,
)
from services.installs.agency import Emit
from tests.unit.installs.fake_agency import CLIENT_ID, SECRET, FakeAgencyGhl, location_id

pytestmark = pytest.mark.integration

PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


@pytest.fixture
def t0() -> datetime:
    """Webhook times start at the test's own start: the listings a test reads are later, so a
    webhook stamped after `t0` is newer than them (a module-level time would make a test run
    minutes after collection see its webhooks as stale)."""
    return datetime.now(UTC)


@pytest.fixture
def settings() -> GhlSettings:
    return GhlSettings.model_validate(
        {
            "base_url": "https://ghl.test",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "token_encryption_key": generate_key(),
        }
    )


def _company_limiter() -> InMemoryRateLimiter:
    return InMemoryRateLimiter(requests=100_000, interval=1.0)


ProvidersFactory = Callable[
    [FakeAgencyGhl], Awaitable[tuple[OAuthTokenProvider, OAuthTokenProvider]]
]


@pytest.fixture
def make_providers(new_pool: PoolFactory, settings: GhlSettings) -> ProvidersFactory:
    """Builds the location and the company token providers on a fake GHL as a process does,
    each pair with a pool of its own: `tokens, companies = await make_providers(fake)`."""

    async def make(fake: FakeAgencyGhl) -> tuple[OAuthTokenProvider, OAuthTokenProvider]:
        tokens, companies, _ = build_oauth_providers(
            settings,
            pool=await new_pool(),
            transport=httpx.MockTransport(fake),
            company_limiter=_company_limiter(),
        )
        return tokens, companies

    return make


async def _consent(fake: FakeAgencyGhl, settings: GhlSettings, agency: Agency) -> Any:
    oauth = OAuthClient(settings, transport=httpx.MockTransport(fake))
    try:
        grant = await oauth.exchange_code("the-code")
    finally:
        await oauth.aclose()
    return await agency.authorise(grant)


AgencyFactory = Callable[..., Awaitable[Agency]]


@pytest.fixture
async def make_agency(new_pool: PoolFactory, settings: GhlSettings) -> AsyncIterator[AgencyFactory]:
    """Builds our agency on a fake GHL as a process does, each with a pool of its own:
    `await make_agency(fake, consent=True, **installs)` (`consent`: after the one consent,
    every location of `fake` onboarded; `installs`: `InstallSettings` fields). Each agency is
    closed after the test."""
    made: list[Agency] = []

    async def make(
        fake: FakeAgencyGhl, *, consent: bool = False, emit: Emit | None = None, **installs: Any
    ) -> Agency:
        agency = build_agency(
            settings,
            InstallSettings(**installs),
            pool=await new_pool(),
            transport=httpx.MockTransport(fake),
            company_limiter=_company_limiter(),
            emit=emit,
        )
        made.append(agency)
        if consent:
            await _consent(fake, settings, agency)
        return agency

    yield make
    for agency in made:
        await agency.aclose()


Onboarded = tuple[FakeAgencyGhl, Agency]


@pytest.fixture
async def onboarded(make_agency: AgencyFactory) -> Onboarded:
    """A fake GHL agency of three locations and our agency, every location onboarded from the
    one consent: `fake, agency = onboarded`."""
    fake = FakeAgencyGhl(locations=3)
    return fake, await make_agency(fake, consent=True)


def hook(kind: str, at: datetime, **fields: str) -> dict[str, Any]:
    return {"type": kind, "appId": "app0000000000000001", "timestamp": at.isoformat(), **fields}


async def _states(pg: asyncpg.Connection) -> dict[str, str]:
    rows = await pg.fetch("SELECT location_id, state FROM ghl_installations")
    return {r["location_id"]: r["state"] for r in rows}


async def _targets(pg: asyncpg.Connection) -> dict[str, bool]:
    rows = await pg.fetch("SELECT location_id, enabled FROM poller_targets")
    return {r["location_id"]: r["enabled"] for r in rows}


async def _active(pg: asyncpg.Connection) -> set[str]:
    return {
        r["location_id"] for r in await pg.fetch("SELECT location_id FROM ghl_active_locations")
    }


async def test_bulk_install_of_200_locations_from_one_consent(
    make_agency: AgencyFactory, settings: GhlSettings, pg: asyncpg.Connection
) -> None:
    fake = FakeAgencyGhl(locations=200)
    agency = await make_agency(fake)
    found = await _consent(fake, settings, agency)
    assert found is not None
    assert (found.listed, found.onboarded, found.failed) == (200, 200, 0)
    assert fake.calls["location_token"] == 200
    assert fake.calls["installed_pages"] == math.ceil(200 / 20) + 1  # the last page is short
    assert await _active(pg) == set(fake.names)
    assert set((await _states(pg)).values()) == {"installed"}
    # Handed to the poller (its onboarding contract): backfill first, then polling.
    assert await _targets(pg) == dict.fromkeys(fake.names, True)
    # The company token is at rest encrypted, in its own table.
    row = await pg.fetchrow("SELECT * FROM ghl_company_tokens")
    assert row is not None
    assert row["company_id"] == fake.company
    assert b"company-access" not in row["access_token"]
    assert row["install_to_future_locations"] is True
    minted = await pg.fetchval(
        "SELECT count(*) FROM ghl_tokens WHERE company_id = $1 AND user_type = 'Location'",
        fake.company,
    )
    assert minted == 200
    # Discovery again (the reconciler) spends only list pages: nothing to mint.
    again = await agency.reconcile()
    assert again[0].onboarded == 0
    assert fake.calls["location_token"] == 200


async def test_install_before_the_code_exchange_is_onboarded_by_the_exchange(
    make_agency: AgencyFactory, settings: GhlSettings, pg: asyncpg.Connection, t0: datetime
) -> None:
    fake = FakeAgencyGhl(locations=2)
    early = location_id(1)
    fake.installed = {early}
    agency = await make_agency(fake)
    await agency.handle(hook("INSTALL", t0, companyId=fake.company, locationId=early))
    assert await _states(pg) == {early: "pending"}
    status = await install_status(pg, early)
    assert not status.installed
    assert "has not authorised" in status.reason
    assert fake.calls["location_token"] == 0
    # The exchange: the Company token arrives, the pending install is onboarded.
    fake.installed.add(location_id(2))
    found = await _consent(fake, settings, agency)
    assert found is not None
    assert await _states(pg) == {early: "installed", location_id(2): "installed"}
    assert fake.calls["location_token"] == 2  # each location minted once
    assert await is_installed(pg, early)


async def test_uninstall_stops_at_once_and_reinstall_onboards_again(
    onboarded: Onboarded,
    make_providers: ProvidersFactory,
    pg: asyncpg.Connection,
    t0: datetime,
) -> None:
    fake, agency = onboarded
    gone = location_id(2)
    fake.installed.discard(gone)
    await agency.handle(hook("UNINSTALL", t0 + timedelta(minutes=1), locationId=gone))
    assert gone not in await _active(pg)
    assert await pg.fetchval("SELECT count(*) FROM ghl_tokens WHERE location_id = $1", gone) == 0
    assert (await _targets(pg))[gone] is False  # every poller instance stops it now
    status = await install_status(pg, gone)
    assert (status.installed, status.state) == (False, "uninstalled")
    assert "uninstalled the app" in status.reason
    # The token provider refuses it too: nothing is minted for an uninstalled location.
    tokens, _ = await make_providers(fake)
    with pytest.raises(AuthError, match="uninstalled the app"):
        await tokens.access_token(gone)
    # The others are untouched.
    assert await _active(pg) == {location_id(1), location_id(3)}
    # Reinstall.
    fake.installed.add(gone)
    minted = fake.calls["location_token"]
    await agency.handle(
        hook("INSTALL", t0 + timedelta(minutes=2), companyId=fake.company, locationId=gone)
    )
    assert gone in await _active(pg)
    assert fake.calls["location_token"] == minted + 1
    assert (await _targets(pg))[gone] is True
    log = [r["reason"] for r in await agency.store.log_rows(gone)]
    assert log[-2:] == ["uninstalled", "reinstalled"]


async def test_future_location_with_an_install_that_names_no_company(
    make_agency: AgencyFactory, pg: asyncpg.Connection, t0: datetime
) -> None:
    fake = FakeAgencyGhl(locations=2)
    agency = await make_agency(fake, consent=True)
    # A new sub-account; GHL installs the app on it (installToFutureLocations) and sends an
    # INSTALL without companyId before the LocationCreate.
    new = fake.add_location(3)
    fake.installed.add(new)
    at = t0 + timedelta(minutes=5)
    await agency.handle(hook("INSTALL", at, locationId=new))
    assert await pg.fetchval("SELECT count(*) FROM ghl_install_orphans") == 1
    assert new not in await _active(pg)
    await agency.handle(
        {"type": "LocationCreate", "id": new, "companyId": fake.company, "name": "New one",
         "timestamp": at.isoformat()}
    )  # fmt: skip
    assert new in await _active(pg)
    assert await pg.fetchval("SELECT count(*) FROM ghl_install_orphans") == 0
    # A second future location: the map already knows it (from installedLocations), so an
    # INSTALL without companyId is applied directly.
    other = fake.add_location(4)
    fake.installed.add(other)
    await agency.discover(fake.company)
    assert other in await _active(pg)
    duplicate = await agency.handle(hook("INSTALL", at, locationId=other))
    assert duplicate[0].outcome.value == "duplicate"


async def test_reconcile_applies_missed_webhooks(
    onboarded: Onboarded, pg: asyncpg.Connection
) -> None:
    fake, agency = onboarded
    fake.installed.discard(location_id(1))  # its UNINSTALL was lost
    fake.installed.add(fake.add_location(9))  # its INSTALL was lost
    [found] = await agency.reconcile()
    assert (found.uninstalled, found.onboarded) == (1, 1)
    assert await _active(pg) == {location_id(2), location_id(3), location_id(9)}
    assert (await _states(pg))[location_id(1)] == "uninstalled"


async def test_concurrent_company_refreshers_refresh_exactly_once(
    make_agency: AgencyFactory, make_providers: ProvidersFactory, pg: asyncpg.Connection
) -> None:
    fake = FakeAgencyGhl(locations=1)
    fake.delay = 0.02  # widen the window a second refresh could slip into
    agency = await make_agency(fake, consent=True)
    await agency.aclose()
    # Make the company token due: inside the refresh margin.
    await pg.execute("UPDATE ghl_company_tokens SET expires_at = now() + interval '30 seconds'")
    companies = [(await make_providers(fake))[1] for _ in range(4)]
    tokens = await asyncio.gather(*(companies[i % 4].access_token(fake.company) for i in range(40)))
    assert fake.calls["company_refresh"] == 1
    assert fake.rejected["company_refresh"] == 0
    assert len(set(tokens)) == 1
    assert await pg.fetchval("SELECT refresh_count FROM ghl_company_tokens") == 1
    # Not locked out: the stored refresh token is the live one, a later refresh works.
    await pg.execute("UPDATE ghl_company_tokens SET expires_at = now()")
    companies[0].forget(fake.company)
    await companies[0].access_token(fake.company)
    assert fake.calls["company_refresh"] == 2
    assert fake.rejected["company_refresh"] == 0


async def test_a_refused_location_refresh_falls_back_to_minting(
    make_agency: AgencyFactory, make_providers: ProvidersFactory, pg: asyncpg.Connection
) -> None:
    fake = FakeAgencyGhl(locations=2)
    agency = await make_agency(fake, consent=True)
    await agency.aclose()
    where = location_id(1)
    fake.refuse_location_refresh.add(where)
    await pg.execute("UPDATE ghl_tokens SET expires_at = now() WHERE location_id = $1", where)
    tokens, _ = await make_providers(fake)
    minted = fake.calls["location_token"]
    token = await tokens.access_token(where)
    assert fake.rejected["location_refresh"] == 1
    assert fake.calls["location_token"] == minted + 1
    assert fake.location_access[token] == where
    # A location with no stored token is minted on first use.
    await pg.execute("DELETE FROM ghl_tokens WHERE location_id = $1", location_id(2))
    first = await tokens.access_token(location_id(2))
    assert fake.location_access[first] == location_id(2)


async def test_bad_input_is_logged_with_its_reason_and_disturbs_nothing(
    onboarded: Onboarded,
    make_providers: ProvidersFactory,
    settings: GhlSettings,
    new_pool: PoolFactory,
    pg: asyncpg.Connection,
    t0: datetime,
) -> None:
    fake, agency = onboarded
    before = await _states(pg), await _active(pg)
    later = t0 + timedelta(hours=1)

    # INSTALL for a company that never authorised the app: held as pending, nothing minted.
    await agency.handle(hook("INSTALL", later, companyId="cmp-unknown", locationId="loc-x"))
    # UNINSTALL for a location never installed (company unknown): ignored.
    await agency.handle(hook("UNINSTALL", later, locationId="loc-never"))
    # Agency-level UNINSTALL of an unknown company: ignored.
    await agency.handle(hook("UNINSTALL", later, companyId="cmp-other"))
    # Duplicate and out-of-order INSTALL/UNINSTALL of an installed location.
    loc = location_id(1)
    await agency.handle(hook("INSTALL", later, companyId=fake.company, locationId=loc))
    await agency.handle(hook("INSTALL", later, companyId=fake.company, locationId=loc))
    await agency.handle(hook("UNINSTALL", t0 - timedelta(days=1), locationId=loc))
    await agency.handle(hook("INSTALL", t0 - timedelta(days=2), companyId=fake.company,
                             locationId=loc))  # fmt: skip
    # Not an app event at all; a body naming nothing.
    await agency.handle({"type": "ContactCreate", "locationId": loc})
    await agency.handle({"type": "INSTALL"})

    states, active = await _states(pg), await _active(pg)
    assert active == before[1]
    assert {k: v for k, v in states.items() if k in before[0]} == before[0]
    assert states["loc-x"] == "pending"
    assert "loc-never" not in states
    outcomes = [(r["kind"], r["outcome"], r["reason"]) for r in await agency.store.log_rows()]
    reasons = " | ".join(f"{k}:{o}:{r}" for k, o, r in outcomes)
    assert "Install:pending:company cmp-unknown holds no token" in reasons
    assert "UNINSTALL:ignored:for a location never installed" in reasons
    assert "UNINSTALL:ignored:agency-level uninstall of a company never installed" in reasons
    assert "Install:duplicate" in reasons
    assert "Uninstall:stale" in reasons
    assert "Install:stale" in reasons
    assert "ContactCreate:ignored:not an app event" in reasons
    assert "INSTALL:ignored:names neither company nor location" in reasons
    assert fake.calls["location_token"] == 3

    # A company refresh token reused (another copy of the database, a restored backup): GHL
    # refuses it; the error names the reason, no secret; the locations keep their tokens.
    cipher = TokenCipher(settings.token_encryption_key)
    store = PostgresTokenStore.companies(await new_pool(), cipher)
    current = await store.load(fake.company)
    assert current is not None
    assert current.refresh_token is not None
    fake.company_refresh.discard(current.refresh_token.get_secret_value())  # spent elsewhere
    await pg.execute("UPDATE ghl_company_tokens SET expires_at = now()")
    _, companies = await make_providers(fake)
    with pytest.raises(AuthError) as refused:
        await companies.access_token(fake.company)
    assert "refresh token is invalid" in str(refused.value)
    assert "company-refresh" not in str(refused.value)
    assert await _active(pg) == before[1]


async def test_agency_level_uninstall_stops_every_location_and_drops_the_company_token(
    onboarded: Onboarded, pg: asyncpg.Connection, t0: datetime
) -> None:
    fake, agency = onboarded
    await agency.handle(hook("UNINSTALL", t0 + timedelta(hours=1), companyId=fake.company))
    assert await _active(pg) == set()
    assert set((await _states(pg)).values()) == {"uninstalled"}
    assert await pg.fetchval("SELECT count(*) FROM ghl_company_tokens") == 0


async def test_location_grant_records_a_sub_account_install(
    make_agency: AgencyFactory, pg: asyncpg.Connection
) -> None:
    fake = FakeAgencyGhl(locations=1)
    agency = await make_agency(fake)
    # What the exchange answers when a sub-account user installs the app.
    await agency.authorise(
        TokenGrant(
            access_token=SecretStr("loc-access-solo"),
            refresh_token=SecretStr("loc-refresh-solo"),
            expires_at=datetime.now(UTC) + timedelta(days=1),
            location_id="loc-solo",
            company_id="cmp-solo",
            user_type="Location",
        )
    )
    assert await _states(pg) == {"loc-solo": "installed"}
    assert await _active(pg) == {"loc-solo"}
    assert fake.calls["location_token"] == 0
    await agency.handle(hook("UNINSTALL", datetime.now(UTC) + timedelta(seconds=1),
                             locationId="loc-solo"))  # fmt: skip
    assert await _active(pg) == set()


async def test_status_shows_companies_their_locations_and_install_states(
    make_agency: AgencyFactory, settings: GhlSettings, pg: asyncpg.Connection, t0: datetime
) -> None:
    from services.status._installs import read_installs

    fake = FakeAgencyGhl(locations=3)
    agency = await make_agency(fake)
    await agency.handle(hook("INSTALL", t0, locationId="loc-orphan"))
    await agency.handle(hook("INSTALL", t0, companyId="cmp-later", locationId="loc-wait"))
    await _consent(fake, settings, agency)
    await agency.handle(hook("UNINSTALL", t0 + timedelta(minutes=1), locationId=location_id(3)))
    companies, installs = await read_installs(pg)
    assert [(c.company_id, c.installed, c.pending, c.uninstalled) for c in companies] == [
        (fake.company, 2, 0, 1)
    ]
    assert companies[0].install_to_future_locations is True
    states = {i.location_id: (i.company_id, i.state, i.has_token) for i in installs}
    assert states == {
        location_id(1): (fake.company, "installed", True),
        location_id(2): (fake.company, "installed", True),
        location_id(3): (fake.company, "uninstalled", False),
        "loc-wait": ("cmp-later", "pending", False),
        "loc-orphan": (None, "orphan", False),
    }
    assert {i.name for i in installs if i.company_id == fake.company} == {
        "Sub-account 1", "Sub-account 2", "Sub-account 3"
    }  # fmt: skip


async def test_tombstone_setting_deletes_the_uninstalled_locations_rows(
    make_agency: AgencyFactory, settings: GhlSettings, pg: asyncpg.Connection, t0: datetime
) -> None:
    from schemas import Event

    fake = FakeAgencyGhl(locations=2)
    emitted: list[Event] = []

    async def emit(events: Any) -> int:
        emitted.extend(events)
        return len(events)

    agency = await make_agency(fake, emit=emit, on_uninstall="tombstone")
    await _consent(fake, settings, agency)
    gone, kept = location_id(1), location_id(2)
    for loc, cid in ((gone, "c1"), (gone, "c2"), (kept, "c3")):
        await pg.execute(
            "INSERT INTO contacts (location_id, id, data, version, event_id)"
            " VALUES ($1, $2, '{}', now(), 'e')",
            loc,
            cid,
        )
    await pg.execute(
        "INSERT INTO tasks (location_id, id, contact_id, data, version, event_id)"
        " VALUES ($1, 't1', 'c1', '{}', now(), 'e')",
        gone,
    )
    await agency.handle(hook("UNINSTALL", t0 + timedelta(minutes=1), locationId=gone))
    assert sorted((e.event_type, e.entity_id) for e in emitted) == [
        ("contact.deleted", "c1"),
        ("contact.deleted", "c2"),
        ("task.deleted", "t1"),
    ]
    assert {e.location_id for e in emitted} == {gone}
    assert {e.causation_id for e in emitted} == {f"uninstall:{gone}"}


async def test_a_company_token_without_the_oauth_scopes_fails_after_one_refresh(
    make_agency: AgencyFactory, settings: GhlSettings, pg: asyncpg.Connection
) -> None:
    fake = FakeAgencyGhl(locations=2)
    fake.without_oauth_scopes = True
    agency = await make_agency(fake)
    found = await _consent(fake, settings, agency)
    assert found is not None
    assert found.listed == 0
    assert fake.calls["installed_pages"] == 2  # the first answer, then once after a refresh
    assert fake.calls["company_refresh"] == 1
    reasons = [r["reason"] for r in await agency.store.log_rows()]
    assert any("not authorized for this scope" in r for r in reasons)
    # The Company token is kept: once the scopes are fixed, the reconciler onboards.
    fake.without_oauth_scopes = False
    [again] = await agency.reconcile()
    assert again.onboarded == 2
