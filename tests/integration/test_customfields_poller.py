"""The poller keeps custom field definitions fresh: at onboarding (before the backfill), when a
contact it reads names a field id they lack, and on the quota plan's schedule, each read
counted as the `definitions` request class. Real Kafka and PostgreSQL, GHL simulated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.customfields import DefinitionSync
from services.customfields.store import load_definitions
from services.ghl import (
    GhlError,
    InMemoryRateLimiter,
    RequestClass,
)
from services.poller import EventSink, Poller, PollerSettings, PollerStore
from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator
from streams.admin import ensure_topics
from tests.conftest import TestSettings
from tests.factories.ghl import SIM, mint_tokens, simulator_client

pytestmark = pytest.mark.integration


class Clock:
    """The definitions' clock: moved by the test, not by the machine."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world(test_settings: TestSettings, pg_schema: str) -> AsyncIterator[dict[str, Any]]:
    sim = httpx.ASGITransport(
        app=create_simulator(
            SimulatorSettings(seed=3, locations=1, contacts_per_location=40, rate_limit_max=10**6)
        )
    )
    admin = httpx.AsyncClient(transport=sim, base_url=SIM)
    [loc] = (await admin.get("/_admin/state")).json()["locations"]
    tokens = await mint_tokens(admin, [loc])
    client, limiter = simulator_client(sim, tokens[loc])
    pool = await asyncpg.create_pool(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    try:
        yield {
            "client": client, "limiter": limiter, "pool": pool, "loc": loc,
            "admin": admin, "headers": {"Authorization": f"Bearer {tokens[loc].get_secret_value()}",
                                        "Version": "2021-07-28"},
        }  # fmt: skip
    finally:
        await pool.close()
        await client.aclose()
        await admin.aclose()


@pytest.fixture
async def sink(kafka_bootstrap: str) -> AsyncIterator[EventSink]:
    topic = f"test-{uuid.uuid4().hex[:10]}.ghl.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    events = EventSink(kafka_bootstrap, topic)
    await events.start()
    try:
        yield events
    finally:
        await events.stop()


def _definition_reads(limiter: InMemoryRateLimiter, location_id: str) -> int:
    return sum(
        n
        for (loc, _, klass), n in limiter.counts.items()
        if loc == location_id and klass is RequestClass.DEFINITIONS
    )


async def _reasons(pool: asyncpg.Pool, location_id: str) -> tuple[str, int, str | None]:
    row = await pool.fetchrow(
        "SELECT reason, fields, error FROM custom_field_syncs WHERE location_id = $1", location_id
    )
    assert row is not None
    return row["reason"], row["fields"], row["error"]


async def test_definitions_at_onboarding_on_an_unknown_id_and_on_schedule(
    world: dict[str, Any], sink: EventSink
) -> None:
    client, limiter, pool, loc = world["client"], world["limiter"], world["pool"], world["loc"]
    clock = Clock()
    sync = DefinitionSync(
        pool, client.list_custom_fields, every_seconds=3600, retry_seconds=60, clock=clock
    )
    poller = Poller(client, PollerStore(pool), sink, PollerSettings(), pool=pool, definitions=sync)

    # Onboarding: the definitions come first, then the backfill.
    await poller._backfill(loc)
    assert await _reasons(pool, loc) == ("onboarding", 8, None)
    assert _definition_reads(limiter, loc) == 1
    await poller.run_cycle(loc)
    assert _definition_reads(limiter, loc) == 1  # nothing due, no unknown id
    plan = poller.plan_of(loc)
    assert plan is not None
    assert plan.definitions_seconds == 3600
    assert plan.projected["definitions"] == pytest.approx(24.0)

    # A field created in GHL and a contact given a value of it: the next poll reads the
    # contact, finds the id unknown and reads the definitions again at once.
    created = await world["admin"].post(
        f"/locations/{loc}/customFields",
        json={"name": "Shoe size", "dataType": "NUMERICAL"},
        headers=world["headers"],
    )
    assert created.status_code == 201, created.text
    field_id = created.json()["customField"]["id"]
    contact_id = (
        await world["admin"].post(
            "/contacts/search", json={"locationId": loc, "pageLimit": 1},
            headers=world["headers"],
        )
    ).json()["contacts"][0]["id"]  # fmt: skip
    clock.now += timedelta(seconds=61)
    updated = await world["admin"].put(
        f"/contacts/{contact_id}",
        json={"customFields": [{"id": field_id, "field_value": 44}]},
        headers=world["headers"],
    )
    assert updated.status_code == 200, updated.text
    await poller.run_cycle(loc)
    assert await _reasons(pool, loc) == ("unknown_id", 9, None)
    assert "shoe_size" in {d.key for d in await load_definitions(pool, loc)}
    assert _definition_reads(limiter, loc) == 2

    # The schedule: nothing before the plan's period, one read after it.
    clock.now += timedelta(seconds=3000)
    await poller.run_cycle(loc)
    assert _definition_reads(limiter, loc) == 2
    clock.now += timedelta(seconds=700)
    await poller.run_cycle(loc)
    assert _definition_reads(limiter, loc) == 3
    assert (await _reasons(pool, loc))[0] == "schedule"


async def test_a_failed_read_keeps_the_definitions_and_waits_before_the_next(
    world: dict[str, Any],
) -> None:
    client, pool, loc = world["client"], world["pool"], world["loc"]
    clock = Clock()
    good = DefinitionSync(pool, client.list_custom_fields, clock=clock)
    assert (await good.sync(loc, reason="onboarding")).fields == 8
    calls = 0

    async def failing(location_id: str) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        raise GhlError("403 the token lacks locations/customFields.readonly")

    bad = DefinitionSync(pool, failing, every_seconds=600, retry_seconds=120, clock=clock)
    clock.now += timedelta(seconds=601)
    outcome = await bad.maybe_sync(loc, every=600, seen={"anything"})
    assert outcome is not None
    assert outcome.error
    assert "customFields.readonly" in outcome.error
    assert await _reasons(pool, loc) == (
        "schedule", 8, "GhlError: 403 the token lacks locations/customFields.readonly"
    )  # fmt: skip
    assert len(await load_definitions(pool, loc)) == 8  # the old ones stay
    clock.now += timedelta(seconds=100)
    assert await bad.maybe_sync(loc, every=600, seen={"other"}) is None
    assert calls == 1
    clock.now += timedelta(seconds=30)
    assert (await bad.maybe_sync(loc, every=600)) is not None
    assert calls == 2

    # An id GHL itself does not list waits for the schedule, not a read per cycle.
    fresh = DefinitionSync(pool, client.list_custom_fields, retry_seconds=1, clock=clock)
    clock.now += timedelta(seconds=5)
    first = await fresh.maybe_sync(loc, every=3600, seen={"deletedFieldId"})
    assert first is not None
    assert first.reason == "schedule"
    clock.now += timedelta(seconds=5)
    assert await fresh.maybe_sync(loc, every=3600, seen={"deletedFieldId"}) is None
