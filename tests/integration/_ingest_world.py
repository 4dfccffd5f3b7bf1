"""A small ingest world for normalize tests and benchmarks: the simulator in process (GHL),
raw records written straight to `ghl.raw.v1` the way the receiver writes them, normalize and
the projections on the real broker and database.

Webhooks are written by `World.announce` rather than delivered by the simulator, so a test
chooses exactly which deliveries exist and when (the simulator's own delivery queue is not
part of what these tests measure).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from schemas import Event, EventDecodeError, decode_event
from schemas.raw import RawDelivery
from services.ghl import (
    GhlClient,
    GhlSettings,
    InMemoryRateLimiter,
    StaticTokenProvider,
    build_client,
)
from services.simulator import SimulatorSettings, seed_state
from services.simulator import create_app as create_simulator
from streams.ghl_fetcher import ClientFetcher
from streams.normalize import NormalizeConsumer
from streams.normalize.parked import ParkedStore
from streams.projections.consumer import ProjectionConsumer
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.factories.ghl import SIM, mint_tokens
from tests.factories.streams import end_offsets, ensure_all_topics, streams_settings


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts GHL requests per (location header or path) on their way to the simulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: Counter[str] = Counter()
        self.by_token: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests[f"{request.method} {request.url.path.split('/')[1]}"] += 1
        self.by_token[request.headers.get("authorization", "").removeprefix("Bearer ")] += 1
        return await self.inner.handle_async_request(request)

    def of(self, token: str) -> int:
        """Requests made with one location's token."""
        return self.by_token[token]

    def total(self) -> int:
        return sum(self.requests.values())


@dataclass
class World:
    bootstrap: str
    streams: StreamsSettings
    ghl: Any
    """The simulator's state (its ground truth)."""
    admin: httpx.AsyncClient
    client: GhlClient
    """Normalize's client: its requests are counted."""
    writer: GhlClient
    """The test's own client for changes (not counted)."""
    counting: CountingTransport
    tokens: dict[str, SecretStr]
    locations: list[str]
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    normalize: NormalizeConsumer | None = None
    projections: ProjectionConsumer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def contact_ids(self, location_id: str) -> list[str]:
        return list(self.ghl.locations[location_id].contacts)

    async def announce(
        self, location_id: str, items: list[tuple[str, str]], *, stamp: datetime | None = None,
        extra: dict[str, Any] | None = None, streams: StreamsSettings | None = None,
    ) -> None:  # fmt: skip
        """Write one raw delivery per (webhook type, entity id), as the receiver would."""
        topic = topic_names(streams or self.streams).raw
        now = datetime.now(UTC)
        stamp = stamp or now
        futures = []
        for kind, entity_id in items:
            webhook_id = str(uuid.uuid4())
            body = {
                "type": kind,
                "locationId": location_id,
                "id": entity_id,
                "webhookId": webhook_id,
                "timestamp": stamp.isoformat(timespec="milliseconds"),
                **(extra or {}),
            }
            raw = json.dumps(body, separators=(",", ":")).encode()
            contact = body.get("contactId", entity_id)
            delivery = RawDelivery(body=raw, received_at=now, webhook_id=webhook_id,
                                   key=f"{location_id}:{contact}")  # fmt: skip
            futures.append(
                await self.producer.send(
                    topic, value=raw, key=delivery.key.encode(), headers=delivery.headers()
                )
            )
        await asyncio.gather(*futures)

    def start(self, *, normalize: bool = True, projections: bool = True,
              **streams_update: Any) -> None:  # fmt: skip
        streams = self.streams.model_copy(update=streams_update)
        if normalize:
            self.normalize = NormalizeConsumer(streams, ClientFetcher(self.client),
                                               parked_store=ParkedStore(self.pool))  # fmt: skip
            self.tasks.append(asyncio.create_task(self.normalize.run()))
        if projections:
            self.projections = ProjectionConsumer(streams)
            self.tasks.append(asyncio.create_task(self.projections.run()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    def check(self) -> None:
        for task in self.tasks:
            if task.done():
                task.result()


async def open_world(
    bootstrap: str, database_url: str, schema: str, *, locations: int = 2, contacts: int = 50,
    seed: int = 7, rate_limit: int = 1_000_000, ghl_requests: int = 100_000,
    ghl_interval: float = 1.0, sim_overrides: dict[str, Any] | None = None, **streams: Any,
) -> AsyncIterator[World]:  # fmt: skip
    settings = streams_settings(
        bootstrap, database_url, schema, topic_partitions=3, batch_wait=0.05, **streams
    )
    await ensure_all_topics(settings, partitions=3)
    sim_settings = SimulatorSettings(
        seed=seed,
        locations=locations,
        contacts_per_location=contacts,
        rate_limit_max=rate_limit,
        webhook_urls=(),
        **(sim_overrides or {}),
    )
    state = seed_state(seed=seed, locations=locations, contacts_per_location=contacts)
    simulator = create_simulator(sim_settings, state=state)
    counting = CountingTransport(httpx.ASGITransport(app=simulator))
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url=SIM, timeout=60
    )
    ids = list(state.locations)
    tokens = await mint_tokens(admin, ids)
    ghl = GhlSettings(base_url=SIM, rate_limit_requests=ghl_requests,
                      rate_limit_interval=ghl_interval)  # fmt: skip
    limiter = InMemoryRateLimiter.from_settings(ghl)
    client = build_client(ghl, token_provider=StaticTokenProvider(tokens), rate_limiter=limiter,
                          transport=counting)  # fmt: skip
    plain = httpx.ASGITransport(app=simulator)
    writer = build_client(ghl, token_provider=StaticTokenProvider(dict(tokens)),
                          rate_limiter=limiter, transport=plain)  # fmt: skip
    pool = await asyncpg.create_pool(database_url, server_settings={"search_path": schema})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    world = World(bootstrap, settings, state, admin, client, writer, counting, tokens, ids, pool,
                  producer)  # fmt: skip
    try:
        yield world
    finally:
        await world.stop()
        await producer.stop()
        await pool.close()
        await client.aclose()
        await writer.aclose()
        await admin.aclose()


async def read_events(
    bootstrap: str, topic: str, *, idle_ms: int = 1500
) -> list[tuple[Event, int]]:
    """Every event on `topic` with its Kafka timestamp (ms)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    out: list[tuple[Event, int]] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                return out
            for records in batch.values():
                for r in records:
                    event = decode_event(r.value)
                    assert not isinstance(event, EventDecodeError), event.reason
                    out.append((event, r.timestamp))
    finally:
        await consumer.stop()


async def settled(world: World, *, within: float = 60.0) -> None:
    """Until normalize finished every raw record and the projections applied every event."""
    topics = topic_names(world.streams)
    async with asyncio.timeout(within):
        while True:
            world.check()
            raw = await end_offsets(world.bootstrap, topics.raw)
            if world.normalize is None or world.normalize.stats.records >= raw:
                break
            await asyncio.sleep(0.1)
        while world.projections is not None:
            world.check()
            done = sum(world.projections.stats.next_offsets.values())
            if done >= await end_offsets(world.bootstrap, topics.events):
                break
            await asyncio.sleep(0.1)
