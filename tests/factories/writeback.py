"""The write-back world: a simulator, the GHL client on it, fresh topics and schema, the writer
and the API in process, and readers of topics.

The fixtures (`world_factory`, `api_client`) are registered for every integration test by
`tests/integration/conftest.py`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from schemas import CommandBase, Event, command_key, encode_command, encode_event
from services.api import ApiSettings
from services.ghl import GhlClient
from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator
from services.writer import Writer, WriterSettings, writer_topics
from streams.admin import ensure_topics
from streams.projections.consumer import ProjectionConsumer
from streams.settings import StreamsSettings
from streams.topics import TopicNames
from tests.factories.api import api_http
from tests.factories.ghl import SIM, mint_tokens, simulator_client
from tests.factories.streams import end_offsets, streams_settings

__all__ = [
    "API_KEY",
    "PARTITIONS",
    "SIM",
    "World",
    "WorldFactory",
    "api_client",
    "end_offsets",
    "read_topic",
    "results_by_id",
    "world_factory",
]

API_KEY = "test-key-" + uuid.uuid4().hex
PARTITIONS = 3


@dataclass
class World:
    """Everything one write-back test runs against."""

    bootstrap: str
    schema: str
    database_url: str
    admin: httpx.AsyncClient
    sim_transport: httpx.AsyncBaseTransport
    client: GhlClient
    pool: asyncpg.Pool
    writer_settings: WriterSettings
    api_settings: ApiSettings
    topics: TopicNames
    locations: dict[str, Any]
    tokens: dict[str, SecretStr]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    projections: Any = None

    def first_location(self) -> tuple[str, dict[str, Any]]:
        """The first location's id and what the simulator seeded in it (`contacts`, ...)."""
        return next(iter(self.locations.items()))

    async def truth(self) -> dict[str, Any]:
        """The simulator's ground truth, per location."""
        state: dict[str, Any] = (await self.admin.get("/_admin/state")).json()["locations"]
        return state

    async def faults(self, **faults: Any) -> None:
        """Replace the simulator's faults (`{}` clears them)."""
        response = await self.admin.post("/_admin/faults?reset=true", json=faults)
        assert response.status_code == 200, response.text

    def consumer_settings(self) -> StreamsSettings:
        """Streams settings on this world's topics and schema, with a consumer app id of their
        own."""
        return streams_settings(
            self.bootstrap,
            self.database_url,
            self.schema,
            topic_prefix=self.writer_settings.topic_prefix,
            topic_partitions=PARTITIONS,
            batch_wait=0.05,
        )

    def start_projections(self) -> ProjectionConsumer:
        """Run the projection consumer on this world's events topic until the test ends."""
        consumer = ProjectionConsumer(self.consumer_settings())
        self.tasks.append(asyncio.create_task(consumer.run()))
        self.projections = consumer
        return consumer

    async def settle_projections(self, within: float = 60.0) -> None:
        """Wait until the projections applied every event on the topic."""
        async with asyncio.timeout(within):
            while True:
                for task in self.tasks:
                    if task.done():
                        task.result()
                done = sum(self.projections.stats.next_offsets.values())
                if done >= await end_offsets(self.bootstrap, self.topics.events):
                    return
                await asyncio.sleep(0.1)

    async def produce_events(self, events: list[Event]) -> None:
        """Put canonical events on the events topic, keyed by contact."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(
                    self.topics.events, encode_event(event), key=event.key.encode()
                )
        finally:
            await producer.stop()

    def start_writer(self, **overrides: Any) -> Writer:
        """Run a writer in this process until the test ends."""
        settings = self.writer_settings.model_copy(update=overrides)
        writer = Writer(settings, client=self.client, pool=self.pool)
        self.tasks.append(asyncio.create_task(writer.run()))
        return writer

    async def produce(self, commands: list[CommandBase]) -> None:
        """Put commands on the commands topic, as an app speaking Kafka would."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            futures = [
                await producer.send(
                    self.topics.commands, encode_command(c), key=command_key(c).encode()
                )
                for c in commands
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def states(self, ids: list[str]) -> dict[str, str]:
        """command id -> state in PostgreSQL."""
        rows = await self.pool.fetch(
            "SELECT command_id, state FROM writer_commands WHERE command_id = ANY($1::text[])",
            ids,
        )
        return {r["command_id"]: r["state"] for r in rows}

    async def wait_terminal(self, ids: list[str], within: float = 60.0) -> dict[str, str]:
        """Wait until every command is terminal; returns their states."""
        async with asyncio.timeout(within):
            while True:
                for task in self.tasks:
                    if task.done():
                        task.result()
                states = await self.states(ids)
                if len(states) == len(ids) and all(
                    s in ("succeeded", "failed", "rejected") for s in states.values()
                ):
                    return states
                await asyncio.sleep(0.1)


async def read_topic(bootstrap: str, topic: str, *, settle: float = 1.5) -> list[Any]:
    """Every record of `topic` (all partitions), once no new one came for `settle` seconds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(settle * 1000))
            if not batch:
                return records
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()


def results_by_id(records: list[Any]) -> dict[str, dict[str, Any]]:
    """Command results keyed by command id (the last one wins)."""
    return {r["command_id"]: r for r in (json.loads(x.value) for x in records)}


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
async def world_factory(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any
) -> AsyncIterator[WorldFactory]:
    """Builds a `World` with the simulator settings given; tears everything down after."""
    made: list[World] = []
    closers: list[Callable[[], Awaitable[Any]]] = []

    async def make(**sim: Any) -> World:
        prefix = f"test-wb-{uuid.uuid4().hex[:10]}."
        webhook_transport = sim.pop("webhook_transport", None)
        sim_settings = SimulatorSettings(
            **{"seed": 5, "locations": 2, "contacts_per_location": 5, **sim}
        )
        simulator = create_simulator(sim_settings, webhook_transport=webhook_transport)
        transport = httpx.ASGITransport(app=simulator)
        admin = httpx.AsyncClient(transport=transport, base_url=SIM, timeout=120)
        closers.append(admin.aclose)
        locations = (await admin.get("/_admin/state")).json()["locations"]
        tokens = await mint_tokens(admin, locations)
        client, _ = simulator_client(
            transport,
            tokens,
            retry_backoff=0.01,
            retry_backoff_max=0.05,
            default_retry_after=0.05,
        )
        closers.append(client.aclose)
        pool = await asyncpg.create_pool(
            test_settings.database_url, server_settings={"search_path": pg_schema}, max_size=20
        )
        closers.append(pool.close)
        writer_settings = WriterSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            topic_prefix=prefix,
            topic_partitions=PARTITIONS,
            database_url=SecretStr(test_settings.database_url),
            database_schema=pg_schema,
            retry_backoff=0.02,
            retry_backoff_max=0.2,
            lookup_delay=0.0,
            offset_flush_seconds=0.1,
        )
        topics = writer_topics(writer_settings)
        await ensure_topics(kafka_bootstrap, topics.all(), partitions=PARTITIONS)
        api_settings = ApiSettings(
            api_keys=[SecretStr(API_KEY)],
            kafka_bootstrap_servers=kafka_bootstrap,
            topic_prefix=prefix,
            topic_partitions=PARTITIONS,
            database_url=SecretStr(test_settings.database_url),
            database_schema=pg_schema,
        )
        world = World(
            bootstrap=kafka_bootstrap, schema=pg_schema, database_url=test_settings.database_url,
            admin=admin, sim_transport=transport, client=client, pool=pool,
            writer_settings=writer_settings, api_settings=api_settings, topics=topics,
            locations=locations, tokens=tokens,
        )  # fmt: skip
        made.append(world)
        return world

    try:
        yield make
    finally:
        for world in made:
            for task in world.tasks:
                task.cancel()
            await asyncio.gather(*world.tasks, return_exceptions=True)
        for close in reversed(closers):
            await close()


@pytest.fixture
async def api_client(world_factory: WorldFactory) -> AsyncIterator[tuple[World, httpx.AsyncClient]]:
    """A world and an HTTP client of the API app running in process (lifespan entered)."""
    world = await world_factory()
    async with api_http(world.api_settings, API_KEY) as http:
        yield world, http
