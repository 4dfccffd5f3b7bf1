"""The proof: with webhooks dropped (10%), duplicated and reordered, and tasks edited silently,
the newest snapshot per entity in `ghl.events.v1` equals the simulator's ground truth after one
poller cycle.

Everything is real except GHL: the simulator signs webhooks to the receiver (in process,
`httpx.ASGITransport`), the receiver writes to Kafka and dedupes in PostgreSQL, normalize
fetches from the simulator, the projection consumer keeps the tables the poller reconciles
against, and the poller polls the simulator.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from schemas import Appointment, Contact, Event, EventDecodeError, Note, Task, decode_event
from services.ghl import (
    GhlClient,
    GhlSettings,
    InMemoryRateLimiter,
    StaticTokenProvider,
    build_client,
)
from services.poller import EventSink, Poller, PollerSettings, PollerStore
from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator
from services.webhooks import WebhookSettings
from services.webhooks import create_app as create_receiver
from streams.admin import ensure_topics
from streams.ghl_fetcher import ClientFetcher
from streams.normalize import NormalizeConsumer
from streams.projections.consumer import ProjectionConsumer
from streams.projections.rows import reference_tables
from streams.settings import StreamsSettings
from streams.topics import topic_names

pytestmark = pytest.mark.integration

SIM = "http://simulator.test"
RECEIVER = "http://receiver.test"
_PARTITIONS = 3
_APPOINTMENT_FIELDS = (
    "id", "calendarId", "status", "title", "assignedUserId", "notes", "startTime", "endTime",
    "address", "locationId", "contactId", "groupId", "appointmentStatus", "users", "dateAdded",
    "dateUpdated", "assignedResources",
)  # fmt: skip


async def _end_offsets(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(_PARTITIONS)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _read_events(bootstrap: str, topic: str) -> list[Event]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events: list[Event] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return events
            for records in batch.values():
                for r in records:
                    event = decode_event(r.value)
                    assert not isinstance(event, EventDecodeError), event.reason
                    events.append(event)
    finally:
        await consumer.stop()


async def _until(check: Any) -> None:
    async with asyncio.timeout(60):
        for _ in iter(int, 1):  # polls Kafka offsets: there is no event to wait on
            if await check():
                return
            await asyncio.sleep(0.2)


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


@pytest.fixture
async def world(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any
) -> AsyncIterator[dict[str, Any]]:
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    streams = StreamsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        app_id=f"test-{uuid.uuid4().hex[:8]}",
        topic_partitions=3,
        database_url=SecretStr(test_settings.database_url),
        database_schema=pg_schema,
        batch_wait=0.1,
    )
    await ensure_topics(kafka_bootstrap, topic_names(streams).all(), partitions=3)

    receiver_holder: dict[str, Any] = {}
    sim_settings = SimulatorSettings(
        seed=11,
        locations=2,
        contacts_per_location=8,
        rate_limit_max=1_000_000,
        webhook_urls=(f"{RECEIVER}/webhooks/ghl",),
        webhook_retry_base_seconds=0.2,
        webhook_retry_max_seconds=1.0,
    )

    class _LateReceiver(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            transport: httpx.AsyncBaseTransport = receiver_holder["transport"]
            return await transport.handle_async_request(request)

    simulator = create_simulator(sim_settings, webhook_transport=_LateReceiver())
    sim_transport = httpx.ASGITransport(app=simulator)
    admin = httpx.AsyncClient(transport=sim_transport, base_url=SIM, timeout=60)
    keys = (await admin.get("/_admin/webhook-public-key")).json()
    receiver = create_receiver(
        WebhookSettings(
            ed25519_public_keys=(keys["ed25519"],),
            kafka_bootstrap_servers=kafka_bootstrap,
            topic_prefix=prefix,
            database_url=SecretStr(test_settings.database_url),
            database_schema=pg_schema,
        )
    )
    lifespan = receiver.router.lifespan_context(receiver)
    await lifespan.__aenter__()
    receiver_holder["transport"] = httpx.ASGITransport(app=receiver)

    state = (await admin.get("/_admin/state")).json()["locations"]
    tokens = {}
    for location_id in state:
        minted = (await admin.post("/_admin/tokens", json={"locationId": location_id})).json()
        tokens[location_id] = SecretStr(minted["access_token"])
    ghl = GhlSettings(base_url=SIM, rate_limit_requests=100_000, rate_limit_interval=1.0)
    client: GhlClient = build_client(
        ghl,
        token_provider=StaticTokenProvider(tokens),
        rate_limiter=InMemoryRateLimiter.from_settings(ghl),
        transport=sim_transport,
    )
    normalize = NormalizeConsumer(streams, ClientFetcher(client))
    projections = ProjectionConsumer(streams)
    tasks = [asyncio.create_task(normalize.run()), asyncio.create_task(projections.run())]
    pool = await asyncpg.create_pool(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    sink = EventSink(kafka_bootstrap, topic_names(streams).events)
    await sink.start()
    try:
        yield {
            "admin": admin, "client": client, "streams": streams, "normalize": normalize,
            "projections": projections, "pool": pool, "sink": sink, "state": state,
            "bootstrap": kafka_bootstrap, "tasks": tasks,
        }  # fmt: skip
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sink.stop()
        await pool.close()
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
        await admin.aclose()


async def _settle(world: dict[str, Any]) -> None:
    """Wait until normalize read every raw record and the projections every event."""
    topics = topic_names(world["streams"])
    bootstrap = world["bootstrap"]

    async def normalized() -> bool:
        for task in world["tasks"]:
            if task.done():
                task.result()
        return world["normalize"].stats.records >= await _end_offsets(bootstrap, topics.raw)

    async def projected() -> bool:
        done = sum(world["projections"].stats.next_offsets.values())
        return done >= await _end_offsets(bootstrap, topics.events)

    await _until(normalized)
    await _until(projected)


async def test_events_converge_to_ground_truth_after_one_poller_cycle(
    world: dict[str, Any],
) -> None:
    admin: httpx.AsyncClient = world["admin"]
    settings = PollerSettings(
        topic_prefix=world["streams"].topic_prefix,
        task_sweep_seconds=0,
        children_sweep_seconds=0,
        reconcile_seconds=0,
        reconcile_grace_seconds=0,
    )
    poller = Poller(world["client"], PollerStore(world["pool"]), world["sink"], settings)
    for location_id in world["state"]:
        await poller.run_cycle(location_id)  # the baseline: what a running poller has seen

    faults = {
        "webhook_drop_rate": 0.1,
        "webhook_duplicate_rate": 0.15,
        "webhook_reorder_rate": 0.2,
        "webhook_reorder_delay_seconds": 0.3,
    }
    assert (await admin.post("/_admin/faults", json=faults)).status_code == 200
    done: list[str] = []
    for _ in range(20):
        done += (await admin.post("/_admin/activity", json={"steps": 10})).json()["steps"]
        await asyncio.sleep(0.05)
    assert any("no webhook" in step for step in done)  # silent task edits happened
    await admin.post("/_admin/webhooks/drain")
    log = (await admin.get("/_admin/webhooks")).json()["deliveries"]
    assert any(d["status"] == "dropped" for d in log)
    await _settle(world)

    for location_id in world["state"]:
        await poller.run_cycle(location_id)

    truth = (await admin.get("/_admin/state")).json()["locations"]
    events = await _read_events(world["bootstrap"], topic_names(world["streams"]).events)
    assert {e.source for e in events} >= {"webhook", "poll"}
    rows = reference_tables(events)
    for location_id, loc in truth.items():
        for table in ("contacts", "tasks", "notes", "appointments"):
            expected = {item["id"]: _canonical(table, item) for item in loc[table]}
            live = {
                row.id: _canonical(table, json.loads(row.data))
                for (t, loc_id, _), row in rows.items()
                if t == table and loc_id == location_id and not row.stamp.deleted
            }
            assert sorted(live) == sorted(expected), f"{table} ids differ in {location_id}"
            for entity_id, data in expected.items():
                assert live[entity_id] == data, f"{table} {entity_id} differs"
