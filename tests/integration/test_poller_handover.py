"""Backfill hands over to the poller: the first poll reads only what changed since, and the
onboarding contract starts and stops a location. Real Kafka and PostgreSQL, GHL simulated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas import AppointmentUpserted, payload_digest
from services.ghl import (
    InMemoryRateLimiter,
    Priority,
    RequestClass,
    supported_operations,
)
from services.ghl.requests import ContactUpdate
from services.poller import (
    Poller,
    PollerSettings,
    PollerStore,
    register_location,
    remove_location,
)
from services.poller._calendars import read_appointments
from services.poller.backfill import Backfill
from services.simulator import SimulatorSettings, create_app
from streams.admin import ensure_topics
from tests.factories.ghl import SIM, mint_tokens, simulator_client
from tests.factories.poller import poller_io

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any
) -> AsyncIterator[dict[str, Any]]:
    topic = f"test-{uuid.uuid4().hex[:10]}.ghl.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    sim = httpx.ASGITransport(
        app=create_app(
            SimulatorSettings(seed=7, locations=2, contacts_per_location=620, rate_limit_max=10**6)
        )
    )
    admin = httpx.AsyncClient(transport=sim, base_url=SIM, timeout=60)
    state = (await admin.get("/_admin/state")).json()["locations"]
    client, limiter = simulator_client(sim, await mint_tokens(admin, state))
    try:
        io = poller_io(test_settings.database_url, pg_schema, kafka_bootstrap, topic)
        async with io as (pool, sink):
            yield {
                "client": client, "limiter": limiter, "pool": pool, "sink": sink,
                "locations": sorted(state), "state": state, "admin": admin,
            }  # fmt: skip
    finally:
        await client.aclose()
        await admin.aclose()


async def _until(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        for _ in iter(int, 1):  # polls PostgreSQL: there is no event to wait on
            if await check():
                return
            await asyncio.sleep(0.1)


def _spent(limiter: InMemoryRateLimiter, location_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for (loc, _, klass), n in limiter.counts.items():
        if loc == location_id:
            out[klass.value] = out.get(klass.value, 0) + n
    return out


async def test_the_first_poll_after_a_backfill_reads_only_what_changed_since(
    world: dict[str, Any],
) -> None:
    client, limiter, pool, sink = world["client"], world["limiter"], world["pool"], world["sink"]
    location_id = world["locations"][0]
    done = await Backfill(client, pool, sink, location_id).run()
    assert (done.phase, done.contacts_done) == ("done", 620)
    backfill = _spent(limiter, location_id)
    # Notes per contact; appointments per contact only without the calendars API (else a
    # listing and one read per calendar, four here).
    per_contact = 1 if "get-calendars" in supported_operations() else 2
    calendars = 5 if per_contact == 1 else 0
    # Two search pages of 500, the children, the task pages.
    assert backfill["backfill"] <= 2 + per_contact * 620 + calendars + 10

    edited = [c["id"] for c in world["state"][location_id]["contacts"][:5]]
    for contact_id in edited:
        await client.update_contact(
            location_id, contact_id, ContactUpdate(city="Handover"),
            priority=Priority.WRITE,
        )  # fmt: skip
    before = _spent(limiter, location_id)

    poller = Poller(client, PollerStore(pool), sink, PollerSettings())
    report = await poller.run_cycle(location_id)

    after = _spent(limiter, location_id)
    cycle = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    # One search page of what changed since the backfill started, then the children of the
    # five edited contacts only; no sweep, no task sweep, no reconciliation yet.
    assert cycle == {RequestClass.INCREMENTAL_POLL.value: 1 + per_contact * 5}
    assert report.children_read == 5
    assert report.tasks_read == 0
    assert not report.full
    assert report.emitted == 5  # their children are as the backfill emitted them
    assert report.contacts_read - report.contacts_skipped == 5

    # Nothing changed: the next cycle reads one page and skips what it already read.
    report = await poller.run_cycle(location_id)
    assert (report.children_read, report.emitted) == (0, 0)
    assert report.contacts_read == report.contacts_skipped


async def test_appointments_read_location_wide_are_the_events_of_the_contact_route(
    world: dict[str, Any],
) -> None:
    client, location_id = world["client"], world["locations"][0]
    now = datetime.now(UTC)
    found = await read_appointments(
        client, location_id, now - timedelta(days=3650), now + timedelta(days=730), Priority.POLL
    )
    assert found.calendars == 4
    wide = {
        a.id: AppointmentUpserted.build(
            location_id=location_id, appointment=a, source="poll", observed_at=now,
            contact_id=a.contactId or "",
        )
        for a in found.appointments
    }  # fmt: skip
    by_contact = {}
    for contact in world["state"][location_id]["contacts"]:
        for a in await client.list_contact_appointments(location_id, contact["id"]):
            by_contact[a.id] = AppointmentUpserted.build(
                location_id=location_id, appointment=a, source="poll", observed_at=now,
                contact_id=contact["id"],
            )  # fmt: skip
    assert len(wide) > 100
    assert sorted(wide) == sorted(by_contact)
    for appointment_id, event in wide.items():
        assert event.event_id == by_contact[appointment_id].event_id
        assert payload_digest(event.payload) == payload_digest(by_contact[appointment_id].payload)


async def test_register_and_remove_start_and_stop_a_location(world: dict[str, Any]) -> None:
    client, pool, sink = world["client"], world["pool"], world["sink"]
    first, second = world["locations"]
    # Only registered targets are candidates here: the tokens live in the test, not in PG.
    await register_location(pool, first, reason="INSTALL")
    settings = PollerSettings(lease_seconds=3.0, flush_seconds=0.2, cycle_seconds=0.5)
    poller = Poller(client, PollerStore(pool), sink, settings, pool=pool)
    running = asyncio.create_task(poller.run_forever())
    try:

        async def onboarded() -> bool:
            swept = await pool.fetchval(
                "SELECT count(*) FROM poller_contacts WHERE location_id = $1", first
            )
            polled = await pool.fetchval(
                "SELECT contacts_cursor IS NOT NULL FROM poller_locations WHERE location_id = $1",
                first,
            )
            return swept == 620 and bool(polled)

        await _until(onboarded, 60)  # the backfill, then the first cycles, are flushed
        assert (
            await pool.fetchval("SELECT holder FROM poller_leases WHERE location_id = $1", first)
            == poller.instance_id
        )
        assert (
            await pool.fetchval("SELECT phase FROM backfill_progress WHERE location_id = $1", first)
            == "done"
        )
        assert not await pool.fetchval(
            "SELECT count(*) FROM backfill_progress WHERE location_id = $1", second
        )

        await remove_location(pool, first, reason="UNINSTALL")
        cycles = poller.cycles
        leases = poller.leases
        assert leases is not None

        async def let_go() -> bool:
            return first not in leases.valid_until  # the notification makes it let go

        await _until(let_go, 30)
        stopped = poller.cycles
        await asyncio.sleep(1.5)  # three cycle periods: none may start
        assert poller.cycles == stopped >= cycles
        assert await pool.fetchval("SELECT count(*) FROM poller_leases") == 0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
