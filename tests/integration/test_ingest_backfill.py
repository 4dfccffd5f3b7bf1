"""Backfill against the simulator, Kafka and PostgreSQL: interrupted mid-way, resumed, and
every entity of the location is in `ghl.events.v1` with no gap."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
import httpx
import pytest

from schemas import Event
from services.poller import EventSink
from services.poller.backfill import Backfill
from services.simulator import SimulatorSettings, create_app
from streams.admin import ensure_topics
from tests.factories.ghl import SIM, mint_tokens, simulator_client
from tests.integration._ground_truth import read_events

pytestmark = pytest.mark.integration


class _Killed(Exception):
    pass


class _DiesAfter(EventSink):
    """A sink whose process 'dies' on the n-th batch, before producing it."""

    def __init__(self, bootstrap: str, topic: str, batches: int) -> None:
        super().__init__(bootstrap, topic)
        self.left = batches

    async def emit(self, events: Iterable[Event]) -> int:
        if self.left == 0:
            raise _Killed
        self.left -= 1
        return await super().emit(events)


async def test_backfill_resumes_after_a_kill_without_gaps(
    kafka_bootstrap: str, pg: asyncpg.Connection, pg_schema: str, test_settings: Any
) -> None:
    topic = f"test-{uuid.uuid4().hex[:10]}.ghl.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    sim = httpx.ASGITransport(
        app=create_app(
            SimulatorSettings(seed=5, locations=1, contacts_per_location=1100, rate_limit_max=10**6)
        )
    )
    async with httpx.AsyncClient(transport=sim, base_url=SIM) as admin:
        state = (await admin.get("/_admin/state")).json()["locations"]
        [(location_id, truth)] = state.items()
        tokens = await mint_tokens(admin, [location_id])
    client, _ = simulator_client(sim, tokens[location_id])
    pool = await asyncpg.create_pool(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    try:
        dying = _DiesAfter(kafka_bootstrap, topic, batches=1)
        await dying.start()
        with pytest.raises(_Killed):
            await Backfill(client, pool, dying, location_id).run()
        await dying.stop()
        saved = await pg.fetchrow("SELECT phase, contacts_done FROM backfill_progress")
        assert saved is not None
        assert (saved["phase"], saved["contacts_done"]) == ("contacts", 500)

        sink = EventSink(kafka_bootstrap, topic)
        await sink.start()
        reports: list[int] = []
        done = await Backfill(client, pool, sink, location_id).run(
            lambda p, *, requests_left: reports.append(requests_left)
        )
        await sink.stop()
        # The end handed over to the poller: its cursor and every contact's stamp.
        handed = await pg.fetchrow("SELECT contacts_cursor, reconciled_at FROM poller_locations")
        started = await pg.fetchval("SELECT started_at FROM backfill_progress")
        assert handed is not None
        assert handed["contacts_cursor"] == started == handed["reconciled_at"]
        assert await pg.fetchval("SELECT count(*) FROM poller_contacts") == 1100
    finally:
        await pool.close()
        await client.aclose()
    assert done.phase == "done"
    assert reports[-1] == 0
    assert reports == sorted(reports, reverse=True)

    events = await read_events(kafka_bootstrap, topic)
    assert {e.source for e in events} == {"backfill"}
    for kind, key in (
        ("contact", "contacts"), ("task", "tasks"), ("note", "notes"),
        ("appointment", "appointments"),
    ):  # fmt: skip
        got = {e.entity_id for e in events if e.entity_type == kind}
        assert got == {item["id"] for item in truth[key]}, kind
