"""A 5,000-contact location with no webhooks at all converges to GHL's ground truth through
the poller alone, within its quota plan: the sweeps are spread over hours of a fake clock,
and what they spend stays under the plan's projection. Real Kafka and PostgreSQL (the
projection consumer keeps the tables reconciliation diffs against), GHL simulated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.poller import Poller, PollerSettings, PollerStore
from services.poller.backfill import Backfill
from services.simulator import SimulatorSettings, create_app
from streams.projections.consumer import ProjectionConsumer
from streams.topics import topic_names
from tests.conftest import StreamsFactory
from tests.factories.ghl import SIM, mint_tokens, simulator_client
from tests.factories.poller import polling
from tests.factories.streams import end_offsets
from tests.factories.waiting import until
from tests.integration._ground_truth import assert_events_match_truth, read_events

pytestmark = pytest.mark.integration

CONTACTS = 5_000


@pytest.fixture
async def world(new_streams: StreamsFactory, kafka_bootstrap: str) -> AsyncIterator[dict[str, Any]]:
    streams = await new_streams(topic_partitions=3, batch_wait=0.1)
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
    tokens = await mint_tokens(admin, [location_id])
    client, limiter = simulator_client(sim, tokens[location_id], rate_limit_requests=10**6)
    projections = ProjectionConsumer(streams)
    async with polling(streams, projections.run, clients=(client, admin)) as (pool, sink, [task]):
        yield {
            "admin": admin, "client": client, "limiter": limiter, "streams": streams,
            "projections": projections, "running": task, "pool": pool, "sink": sink,
            "location": location_id, "bootstrap": kafka_bootstrap,
        }  # fmt: skip


async def _projected(world: dict[str, Any]) -> None:
    end = await end_offsets(world["bootstrap"], topic_names(world["streams"]).events, 3)

    async def caught_up() -> bool:
        if world["running"].done():
            world["running"].result()
        return sum(world["projections"].stats.next_offsets.values()) >= end

    await until(caught_up, within=120)


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
    events = await read_events(world["bootstrap"], topic_names(world["streams"]).events)
    assert_events_match_truth(events, {location_id: truth})
