"""A 5,000-contact location with no webhooks at all converges to GHL's ground truth through
the poller alone, within its quota plan: the sweeps are spread over hours of a fake clock,
and what they spend stays under the plan's projection. Real Kafka and PostgreSQL (the
projection consumer keeps the tables reconciliation diffs against), GHL simulated."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from schemas import Appointment, Contact, Event, EventDecodeError, Note, Task, decode_event
from services.ghl import GhlSettings, InMemoryRateLimiter, StaticTokenProvider, build_client
from services.poller import EventSink, Poller, PollerSettings, PollerStore
from services.poller.backfill import Backfill
from services.simulator import SimulatorSettings, create_app
from streams.admin import ensure_topics
from streams.projections.consumer import ProjectionConsumer
from streams.projections.rows import reference_tables
from streams.settings import StreamsSettings
from streams.topics import topic_names

pytestmark = pytest.mark.integration

SIM = "http://simulator.test"
CONTACTS = 5_000
_APPOINTMENT_FIELDS = (
    "id", "calendarId", "status", "title", "assignedUserId", "notes", "startTime", "endTime",
    "address", "locationId", "contactId", "groupId", "appointmentStatus", "users", "dateAdded",
    "dateUpdated", "assignedResources",
)  # fmt: skip


def _canonical(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == "contacts":
        return Contact.model_validate(data).model_dump(mode="json", exclude_none=True)
    if kind == "tasks":
        data = {k: v for k, v in data.items() if k not in ("dateAdded", "dateUpdated")}
        return Task.model_validate(data).model_dump(mode="json", exclude_none=True)
    if kind == "notes":
        data = {k: v for k, v in data.items() if k != "dateUpdated"}
        return Note.model_validate(data).model_dump(mode="json", exclude_none=True)
    data = {k: v for k, v in data.items() if k in _APPOINTMENT_FIELDS}
    return Appointment.model_validate(data).model_dump(mode="json", exclude_none=True)


async def _read_events(bootstrap: str, topic: str) -> list[Event]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events: list[Event] = []
    try:
        while batch := await consumer.getmany(timeout_ms=2000, max_records=10_000):
            for records in batch.values():
                for r in records:
                    event = decode_event(r.value)
                    assert not isinstance(event, EventDecodeError), event.reason
                    events.append(event)
    finally:
        await consumer.stop()
    return events


async def _until(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        for _ in iter(int, 1):  # polls Kafka offsets: there is no event to wait on
            if await check():
                return
            await asyncio.sleep(0.2)


@pytest.fixture
async def world(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any
) -> AsyncIterator[dict[str, Any]]:
    streams = StreamsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"test-{uuid.uuid4().hex[:10]}.",
        app_id=f"test-{uuid.uuid4().hex[:8]}",
        topic_partitions=3,
        database_url=SecretStr(test_settings.database_url),
        database_schema=pg_schema,
        batch_wait=0.1,
    )
    await ensure_topics(kafka_bootstrap, topic_names(streams).all(), partitions=3)
    sim = httpx.ASGITransport(
        app=create_app(
            SimulatorSettings(
                seed=3, locations=1, contacts_per_location=CONTACTS, rate_limit_max=10**7
            )
        )
    )
    admin = httpx.AsyncClient(transport=sim, base_url=SIM, timeout=120)
    state = (await admin.get("/_admin/state")).json()["locations"]
    [location_id] = state
    minted = (await admin.post("/_admin/tokens", json={"locationId": location_id})).json()
    ghl = GhlSettings(base_url=SIM, rate_limit_requests=10**6, rate_limit_interval=1.0)
    limiter = InMemoryRateLimiter.from_settings(ghl)
    client = build_client(
        ghl,
        token_provider=StaticTokenProvider(SecretStr(minted["access_token"])),
        rate_limiter=limiter,
        transport=sim,
    )
    projections = ProjectionConsumer(streams)
    running = asyncio.create_task(projections.run())
    pool = await asyncpg.create_pool(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    sink = EventSink(kafka_bootstrap, topic_names(streams).events)
    await sink.start()
    try:
        yield {
            "admin": admin, "client": client, "limiter": limiter, "streams": streams,
            "projections": projections, "running": running, "pool": pool, "sink": sink,
            "location": location_id, "bootstrap": kafka_bootstrap,
        }  # fmt: skip
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await sink.stop()
        await pool.close()
        await client.aclose()
        await admin.aclose()


async def _projected(world: dict[str, Any]) -> None:
    topic = topic_names(world["streams"]).events
    consumer = AIOKafkaConsumer(bootstrap_servers=world["bootstrap"])
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(3)]
        end = sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()

    async def caught_up() -> bool:
        if world["running"].done():
            world["running"].result()
        return sum(world["projections"].stats.next_offsets.values()) >= end

    await _until(caught_up, 120)


async def test_a_large_location_converges_through_the_poller_within_its_plan(
    world: dict[str, Any],
) -> None:
    client, limiter, pool, sink = world["client"], world["limiter"], world["pool"], world["sink"]
    location_id, admin = world["location"], world["admin"]
    await Backfill(client, pool, sink, location_id).run()
    await _projected(world)

    # Silent changes only (no webhook URL is configured): edits, deletions, new children.
    for _ in range(30):
        await admin.post("/_admin/activity", json={"steps": 10})

    now = datetime.now(UTC) + timedelta(seconds=600)  # past the reconcile grace of new rows
    settings = PollerSettings(cycle_seconds=300.0, reconcile_grace_seconds=300.0)
    poller = Poller(client, PollerStore(pool), sink, settings, clock=lambda: now)
    spent_before = sum(n for (_, _, k), n in limiter.counts.items() if k.value != "backfill")
    start = now
    report = await poller.run_cycle(location_id)
    plan = poller.plan_of(location_id)
    assert plan is not None
    # A location of this size cannot sweep hourly within 25%: the plan spreads it out.
    assert plan.stretch > 2
    assert plan.children_sweep_seconds > 3 * 3600
    horizon = max(plan.children_sweep_seconds, plan.reconcile_seconds, plan.task_sweep_seconds)
    while (now - start).total_seconds() < horizon + 2 * settings.cycle_seconds:
        now += timedelta(seconds=settings.cycle_seconds)
        report = await poller.run_cycle(location_id)
        if report.emitted:
            await _projected(world)  # reconciliation reads what the projections hold
    spent = sum(n for (_, _, k), n in limiter.counts.items() if k.value != "backfill")
    spent -= spent_before
    elapsed_days = (now - start).total_seconds() / 86_400
    # Within the plan: what the nets and polls spent over the fake hours, at most what the
    # plan projects for that time (+ one cycle's worth for the first, unpaced cycle).
    assert spent <= plan.projected_daily * elapsed_days + plan.budget * 300 / 86_400 + 50
    assert plan.projected_daily <= 0.25 * 200_000 * 1.0001

    await _projected(world)
    truth = (await admin.get("/_admin/state")).json()["locations"][location_id]
    events = await _read_events(world["bootstrap"], topic_names(world["streams"]).events)
    rows = reference_tables(events)
    for table in ("contacts", "tasks", "notes", "appointments"):
        expected = {item["id"]: _canonical(table, item) for item in truth[table]}
        live = {
            row.id: _canonical(table, json.loads(row.data))
            for (t, loc_id, _), row in rows.items()
            if t == table and loc_id == location_id and not row.stamp.deleted
        }
        assert sorted(live) == sorted(expected), f"{table} ids differ"
        for entity_id, data in expected.items():
            assert live[entity_id] == data, f"{table} {entity_id} differs"
