"""The client against the simulator (in process, `httpx.ASGITransport`): every operation,
the OAuth code exchange and rotating refresh through PostgreSQL, 429s and ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from services.catalog import build_catalog
from services.ghl import (
    OPERATIONS,
    GhlClient,
    GhlSettings,
    InMemoryRateLimiter,
    NotFound,
    OAuthClient,
    OAuthTokenProvider,
    PostgresTokenStore,
    StaticTokenProvider,
    StoredToken,
    TokenCipher,
    ValidationFailed,
    build_client,
    generate_key,
)
from services.ghl import requests as rq
from services.simulator import SimulatorSettings, create_app
from tests.factories.ghl import SIM
from tests.unit.ghl.ghl_helpers import operation_of

pytestmark = pytest.mark.integration


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to the simulator app and remembers which operations were answered 2xx."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.answered: set[str] = set()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        operation = operation_of(request) if response.status_code < 300 else None
        if operation is not None:
            self.answered.add(operation)
        return response


@pytest.fixture
def simulator_settings() -> SimulatorSettings:
    return SimulatorSettings(locations=2, contacts_per_location=6, seed=7)


@pytest.fixture
def asgi(simulator_settings: SimulatorSettings) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(simulator_settings))


async def _admin(asgi: httpx.ASGITransport, method: str, path: str, **kw: Any) -> Any:
    async with httpx.AsyncClient(transport=asgi, base_url=SIM) as http:
        response = await http.request(method, path, **kw)
        response.raise_for_status()
        return response.json()


def _settings(**values: Any) -> GhlSettings:
    return GhlSettings.model_validate(
        {"base_url": SIM, "retry_backoff": 0.001, "retry_backoff_max": 0.002, **values}
    )


@pytest.fixture
async def world(
    asgi: httpx.ASGITransport,
) -> AsyncIterator[tuple[GhlClient, Recorder, dict[str, Any]]]:
    state = await _admin(asgi, "GET", "/_admin/state")
    location = next(iter(state["locations"].values()))
    minted = await _admin(asgi, "POST", "/_admin/tokens", json={"locationId": location["id"]})
    recorder = Recorder(asgi)
    client = build_client(
        _settings(),
        token_provider=StaticTokenProvider(SecretStr(minted["access_token"])),
        rate_limiter=InMemoryRateLimiter(),
        transport=recorder,
    )
    async with client:
        yield client, recorder, location


async def test_every_operation_against_the_simulator(
    world: tuple[GhlClient, Recorder, dict[str, Any]], asgi: httpx.ASGITransport
) -> None:
    client, recorder, location = world
    loc = location["id"]
    user = location["users"][0]
    calendar_id = next(iter(location["calendars"]))
    now = datetime.now(UTC).replace(microsecond=0)

    listed = [c async for c in client.iter_contacts(loc, page_size=4)]
    assert {c.id for c in listed} == {c["id"] for c in location["contacts"]}
    searched = [c async for c in client.iter_search_contacts(loc, rq.ContactSearch(pageLimit=4))]
    assert {c.id for c in searched} == {c.id for c in listed}

    created = await client.create_contact(
        loc,
        rq.ContactCreate(firstName="Ada", lastName="Contract", email="ada.contract@example.com"),
    )
    cid = created.id
    assert (await client.get_contact(loc, cid)).email == "ada.contract@example.com"
    duplicate = await client.get_duplicate_contact(loc, email="ada.contract@example.com")
    assert duplicate is not None
    assert duplicate.id == cid
    updated = await client.update_contact(loc, cid, rq.ContactUpdate(city="Turin"))
    assert updated.city == "Turin"
    upserted = await client.upsert_contact(
        loc, rq.ContactUpsert(email="ada.contract@example.com", lastName="Upserted")
    )
    assert (upserted.new, upserted.contact.id) == (False, cid)

    assert "vip" in await client.add_tags(loc, cid, ["vip", "beta"])
    assert "beta" not in await client.remove_tags(loc, cid, ["beta"])
    bulk = await client.bulk_update_tags(loc, "add", [cid], ["bulk"])
    assert bulk.succeded is not False
    assert "bulk" in ((await client.get_contact(loc, cid)).tags or [])
    await client.bulk_update_business(loc, [cid], "biz-contract")
    page = await client.list_contacts_by_business(loc, "biz-contract")
    assert [c.id for c in page.contacts] == [cid]
    await client.bulk_update_business(loc, [cid], None)

    followers = await client.add_followers(loc, cid, [user])
    assert user in followers.followers
    await client.remove_followers(loc, cid, [user])
    assert await client.add_to_campaign(loc, cid, "camp-1") is not None
    await client.remove_from_campaign(loc, cid, "camp-1")
    await client.remove_from_all_campaigns(loc, cid)
    await client.add_to_workflow(loc, cid, "wf-1")
    await client.remove_from_workflow(loc, cid, "wf-1")

    task = await client.create_task(
        loc, cid, rq.TaskCreate(title="Call back", dueDate=now + timedelta(days=1), body="renewal")
    )
    assert (await client.get_task(loc, cid, task.id)).title == "Call back"
    assert (
        await client.update_task(loc, cid, task.id, rq.TaskUpdate(title="Call"))
    ).title == "Call"
    assert (await client.complete_task(loc, cid, task.id)).completed is True
    assert [t.id for t in await client.list_tasks(loc, cid)] == [task.id]
    found = [t.id async for t in client.iter_tasks(loc, rq.TaskSearch(contactId=[cid], limit=2))]
    assert found == [task.id]
    assert await client.delete_task(loc, cid, task.id)

    note = await client.create_note(loc, cid, rq.NoteCreate(body="Met at expo", userId=user))
    assert (await client.get_note(loc, cid, note.id)).body == "Met at expo"
    assert (await client.update_note(loc, cid, note.id, rq.NoteUpdate(body="Met"))).body == "Met"
    assert [n.id for n in await client.list_notes(loc, cid)] == [note.id]
    assert await client.delete_note(loc, cid, note.id)

    start = now + timedelta(days=2)
    appointment = await client.create_appointment(
        loc,
        rq.AppointmentCreate(
            calendarId=calendar_id,
            contactId=cid,
            startTime=start,
            endTime=start + timedelta(minutes=30),
            title="Demo",
            ignoreFreeSlotValidation=True,
        ),
    )
    assert (await client.get_appointment(loc, appointment.id)).contactId == cid
    edited = await client.update_appointment(
        loc, appointment.id, rq.AppointmentUpdate(title="Demo call")
    )
    assert edited.title == "Demo call"
    assert [a.id for a in await client.list_contact_appointments(loc, cid)] == [appointment.id]
    events = await client.list_calendar_events(
        loc,
        start_time=start - timedelta(hours=1),
        end_time=start + timedelta(hours=1),
        calendar_id=calendar_id,
    )
    assert appointment.id in [e.id for e in events]
    assert calendar_id in [c.id for c in await client.list_calendars(loc)]
    assert await client.delete_appointment(loc, appointment.id)
    fields = await client.list_custom_fields(loc)  # the seeded definitions
    assert fields
    assert all({"id", "fieldKey", "dataType"} <= set(f) for f in fields)
    # A location token sees its own sub-account (how a Private Integration Token's is found).
    assert [found["id"] for found in await client.search_locations(loc)] == [loc]

    assert await client.delete_contact(loc, cid)
    with pytest.raises(NotFound):
        await client.get_contact(loc, cid)

    assert recorder.answered == set(OPERATIONS)
    truth = await _admin(asgi, "GET", "/_admin/state")
    assert cid not in {c["id"] for c in truth["locations"][loc]["contacts"]}


async def test_validation_errors_carry_ghl_messages(
    world: tuple[GhlClient, Recorder, dict[str, Any]],
) -> None:
    client, _, location = world
    with pytest.raises(ValidationFailed) as info:
        await client.create_task(
            location["id"],
            location["contacts"][0]["id"],
            rq.TaskCreate.model_construct(title="", completed=False),  # no dueDate: invalid
        )
    assert info.value.messages


async def test_the_client_never_draws_a_429_at_the_budget(
    asgi: httpx.ASGITransport, simulator_settings: SimulatorSettings
) -> None:
    # A small simulator budget so the test runs quickly: 20 requests per second.
    fast = SimulatorSettings(
        locations=1, contacts_per_location=2, seed=3, rate_limit_max=20, rate_limit_interval_ms=1000
    )
    app_transport = httpx.ASGITransport(app=create_app(fast))
    state = await _admin(app_transport, "GET", "/_admin/state")
    loc = next(iter(state["locations"]))
    minted = await _admin(app_transport, "POST", "/_admin/tokens", json={"locationId": loc})
    recorder = Recorder(app_transport)
    client = build_client(
        _settings(),
        token_provider=StaticTokenProvider(SecretStr(minted["access_token"])),
        rate_limiter=InMemoryRateLimiter(requests=20, interval=1.0),
        transport=recorder,
    )
    async with client:
        await asyncio.gather(*(client.list_contacts(loc, limit=1) for _ in range(60)))
    assert 429 not in recorder.statuses
    assert len(recorder.statuses) == 60


async def test_oauth_code_exchange_and_rotation_through_postgres(
    asgi: httpx.ASGITransport,
    simulator_settings: SimulatorSettings,
    test_settings: Any,
    pg_schema: str,
) -> None:
    settings = _settings(
        client_id=simulator_settings.client_id,
        client_secret=simulator_settings.client_secret.get_secret_value(),
        redirect_uri="http://127.0.0.1:1/callback",
        authorize_url=f"{SIM}/oauth/chooselocation",
        token_encryption_key=generate_key(),
    )
    oauth = OAuthClient(settings, transport=asgi)
    consent = oauth.consent_url(state="s1") + "&approve=true"
    async with httpx.AsyncClient(transport=asgi) as browser:
        redirect = await browser.get(consent)
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == ["s1"]
    grant = await oauth.exchange_code(query["code"][0])
    pool = await asyncpg.create_pool(
        test_settings.database_url,
        min_size=1,
        max_size=4,
        server_settings={"search_path": pg_schema},
    )
    try:
        store = PostgresTokenStore(pool, TokenCipher(settings.token_encryption_key))
        token = StoredToken.from_grant(grant)
        # Pretend it is about to expire, so the first call refreshes against the simulator.
        await store.save(
            StoredToken(
                location_id=token.location_id,
                access_token=token.access_token,
                refresh_token=token.refresh_token,
                expires_at=datetime.now(UTC) + timedelta(seconds=10),
            )
        )
        providers = [OAuthTokenProvider(store, oauth) for _ in range(3)]
        fresh = await asyncio.gather(*(p.access_token(token.location_id) for p in providers * 5))
        assert len(set(fresh)) == 1
        assert fresh[0] != token.access_token.get_secret_value()
        client = build_client(
            settings,
            token_provider=providers[0],
            rate_limiter=InMemoryRateLimiter(),
            transport=asgi,
        )
        async with client:
            page = await client.list_contacts(token.location_id, limit=2)
        assert page.contacts
        row = await pool.fetchrow(
            "SELECT refresh_count FROM ghl_tokens WHERE location_id = $1", token.location_id
        )
        assert row is not None
        assert row["refresh_count"] == 1
    finally:
        await oauth.aclose()
        await pool.close()


def test_the_catalog_sees_the_simulator() -> None:
    entries = build_catalog()
    actions = [e for e in entries if e.kind == "action"]
    assert all(e.simulator for e in actions), [e.name for e in actions if not e.simulator]
