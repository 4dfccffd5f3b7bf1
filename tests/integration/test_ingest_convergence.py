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
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.poller import Poller, PollerSettings, PollerStore
from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator
from services.webhooks import WebhookSettings
from services.webhooks import create_app as create_receiver
from streams.ghl_fetcher import ClientFetcher
from streams.normalize import NormalizeConsumer
from streams.projections.consumer import ProjectionConsumer
from streams.topics import topic_names
from tests.conftest import StreamsFactory
from tests.factories.ghl import SIM, mint_tokens, simulator_client
from tests.factories.poller import polling
from tests.factories.streams import end_offsets
from tests.factories.waiting import until
from tests.integration._ground_truth import assert_events_match_truth, read_events

pytestmark = pytest.mark.integration

RECEIVER = "http://receiver.test"
_PARTITIONS = 3


@pytest.fixture
async def world(
    new_streams: StreamsFactory, kafka_bootstrap: str, pg_schema: str, test_settings: Any
) -> AsyncIterator[dict[str, Any]]:
    streams = await new_streams(topic_partitions=3, batch_wait=0.1)
    prefix = streams.topic_prefix

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
    client, _ = simulator_client(sim_transport, await mint_tokens(admin, state))
    normalize = NormalizeConsumer(streams, ClientFetcher(client))
    projections = ProjectionConsumer(streams)
    consumers = normalize.run, projections.run
    try:
        async with polling(streams, *consumers, clients=(client, admin)) as (pool, sink, tasks):
            yield {
                "admin": admin, "client": client, "streams": streams, "normalize": normalize,
                "projections": projections, "pool": pool, "sink": sink, "state": state,
                "bootstrap": kafka_bootstrap, "tasks": tasks,
            }  # fmt: skip
    finally:
        await lifespan.__aexit__(None, None, None)


async def _settle(world: dict[str, Any]) -> None:
    """Wait until normalize read every raw record and the projections every event."""
    topics = topic_names(world["streams"])
    bootstrap = world["bootstrap"]

    async def normalized() -> bool:
        for task in world["tasks"]:
            if task.done():
                task.result()
        return world["normalize"].stats.records >= await end_offsets(
            bootstrap, topics.raw, _PARTITIONS
        )

    async def projected() -> bool:
        done = sum(world["projections"].stats.next_offsets.values())
        return done >= await end_offsets(bootstrap, topics.events, _PARTITIONS)

    await until(normalized)
    await until(projected)


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
    events = await read_events(world["bootstrap"], topic_names(world["streams"]).events)
    assert {e.source for e in events} >= {"webhook", "poll"}
    assert_events_match_truth(events, truth)
