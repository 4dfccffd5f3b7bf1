"""The loop test: a command's change, the webhook echo it causes, and a poll of the same
contact leave one version in the tables, and cause no further command and no GHL write.

Everything is real except GHL: the simulator signs the echo to the webhook receiver, normalize
fetches the contact, the projections build the tables, and the writer applies the command.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from test_writeback_harness import (  # type: ignore[import-not-found]
    PARTITIONS,
    SIM,
    WorldFactory,
    end_offsets,
    read_topic,
    world_factory,
)

from schemas import ContactUpserted, EventDecodeError, UpdateContact, decode_event
from services.ghl import GhlSettings, InMemoryRateLimiter, StaticTokenProvider, build_client
from services.webhooks import WebhookSettings
from services.webhooks import create_app as create_receiver
from services.writer import Writer
from streams.ghl_fetcher import ClientFetcher
from streams.normalize import NormalizeConsumer

pytestmark = pytest.mark.integration
__all__ = ["world_factory"]
RECEIVER = "http://receiver.test"


class _Counting(httpx.AsyncBaseTransport):
    """Counts the requests that would change GHL (anything but GET)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.writes: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)


class _Late(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.target: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.target is not None
        return await self.target.handle_async_request(request)


async def test_a_change_its_echo_and_a_poll_leave_one_version(
    world_factory: WorldFactory, test_settings: Any
) -> None:
    late = _Late()
    world = await world_factory(
        webhook_urls=(f"{RECEIVER}/webhooks/ghl",),
        webhook_retry_base_seconds=0.2,
        webhook_retry_max_seconds=1.0,
        webhook_transport=late,
    )
    keys = (await world.admin.get("/_admin/webhook-public-key")).json()
    receiver = create_receiver(
        WebhookSettings(
            ed25519_public_keys=(keys["ed25519"],),
            kafka_bootstrap_servers=world.bootstrap,
            topic_prefix=world.writer_settings.topic_prefix,
            topic_partitions=PARTITIONS,
            database_url=SecretStr(world.database_url),
            database_schema=world.schema,
        )
    )
    async with receiver.router.lifespan_context(receiver):
        late.target = httpx.ASGITransport(app=receiver)
        counting = _Counting(world.sim_transport)
        ghl = GhlSettings(base_url=SIM, rate_limit_requests=100_000, rate_limit_interval=1.0)
        writer_client = build_client(
            ghl,
            token_provider=StaticTokenProvider(world.tokens),
            rate_limiter=InMemoryRateLimiter.from_settings(ghl),
            transport=counting,
        )
        normalize = NormalizeConsumer(world.consumer_settings(), ClientFetcher(world.client))
        world.tasks.append(asyncio.create_task(normalize.run()))
        world.start_projections()
        writer = Writer(world.writer_settings, client=writer_client, pool=world.pool)
        world.tasks.append(asyncio.create_task(writer.run()))
        try:
            loc, data = world.first_location()
            cid = data["contacts"][0]["id"]
            command = UpdateContact(
                command_id=f"cmd-{uuid.uuid4().hex}", location_id=loc, contact_id=cid,
                payload={"city": "Loopville", "website": "https://echo.example"},
            )  # fmt: skip
            await world.produce([command])
            await world.wait_terminal([command.command_id])
            assert counting.writes == [f"PUT /contacts/{cid}"]

            # The echo: GHL's ContactUpdate webhook, received, normalized (a fetch), projected.
            await world.admin.post("/_admin/webhooks/drain")
            async with asyncio.timeout(60):
                raw_end = await end_offsets(world.bootstrap, world.topics.raw)
                while normalize.stats.records < raw_end:
                    await asyncio.sleep(0.1)
                    raw_end = await end_offsets(world.bootstrap, world.topics.raw)
            # The poll: what the poller emits for the contact it reads.
            polled = await world.client.get_contact(loc, cid)
            await world.produce_events(
                [
                    ContactUpserted.build(
                        location_id=loc, contact=polled, source="poll",
                        observed_at=datetime.now(UTC),
                    )
                ]
            )  # fmt: skip
            await world.settle_projections()

            events = [
                e
                for e in (
                    decode_event(r.value)
                    for r in await read_topic(world.bootstrap, world.topics.events)
                )
                if not isinstance(e, EventDecodeError) and e.entity_id == cid
            ]
            assert {e.source for e in events} == {"writer", "webhook", "poll"}
            assert len({e.event_id for e in events}) == 1, "echo and poll differ from the write"
            row = await world.pool.fetchrow(
                "SELECT version, event_id, data::text AS data FROM contacts "
                "WHERE location_id = $1 AND id = $2",
                loc,
                cid,
            )
            assert row is not None
            assert row["event_id"] == events[0].event_id
            assert row["version"] == polled.dateUpdated
            assert json.loads(row["data"])["city"] == "Loopville"
            # No further command, no further GHL write.
            await asyncio.sleep(1.0)
            assert await end_offsets(world.bootstrap, world.topics.commands) == 1
            assert counting.writes == [f"PUT /contacts/{cid}"]
            assert writer.stats.read == 1
        finally:
            await writer_client.aclose()
