"""The install handler on the real Kafka and PostgreSQL: app webhooks read from a raw topic
(as the receiver writes them), everything else on it left alone, a restart re-reads nothing
it had committed and a re-read batch changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.raw import RawDelivery, raw_key, webhook_id_of
from services.ghl import GhlSettings, InMemoryRateLimiter, OAuthClient, generate_key
from services.installs import InstallHandler, InstallSettings, build_agency
from tests.conftest import TopicFactory
from tests.unit.installs.fake_agency import CLIENT_ID, SECRET, FakeAgencyGhl, location_id

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(test_settings: Any, pg_schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        test_settings.database_url,
        min_size=1,
        max_size=10,
        server_settings={"search_path": pg_schema},
    )
    yield pool
    await pool.close()


async def _produce(bootstrap: str, topic: str, bodies: list[dict[str, Any] | bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for body in bodies:
            if isinstance(body, bytes):
                await producer.send_and_wait(topic, value=body, key=b"unknown")  # no headers
                continue
            raw = json.dumps(body).encode()
            delivery = RawDelivery(
                body=raw,
                received_at=datetime.now(UTC),
                webhook_id=webhook_id_of(raw, body),
                key=raw_key(body),
            )
            await producer.send_and_wait(
                topic, value=raw, key=delivery.key.encode(), headers=delivery.headers()
            )
    finally:
        await producer.stop()


async def _committed(admin: AIOKafkaAdminClient, group: str, count: int) -> None:
    for _ in range(600):
        offsets = await admin.list_consumer_group_offsets(group)
        if sum(o.offset for o in offsets.values()) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the handler did not commit its offsets")


async def _until(handler: InstallHandler, count: int) -> None:
    # Bounded by a generous deadline only so a broken handler fails instead of hanging.
    for _ in range(600):
        if handler.stats.app_events >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the handler did not apply the app webhooks")


async def test_app_webhooks_on_the_raw_topic_are_applied_in_order(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    new_topic: TopicFactory,
    pool: asyncpg.Pool,
) -> None:
    fake = FakeAgencyGhl(locations=2)
    fake.installed = set()
    settings = GhlSettings.model_validate(
        {"base_url": "https://ghl.test", "client_id": CLIENT_ID, "client_secret": SECRET,
         "token_encryption_key": generate_key()}
    )  # fmt: skip
    agency = build_agency(
        settings,
        InstallSettings(),
        pool=pool,
        transport=httpx.MockTransport(fake),
        company_limiter=InMemoryRateLimiter(requests=100_000, interval=1.0),
    )
    oauth = OAuthClient(settings, transport=httpx.MockTransport(fake))
    await agency.authorise(await oauth.exchange_code("code"))  # nothing installed yet
    await oauth.aclose()
    topic = await new_topic("installs-raw", partitions=3)
    t = datetime.now(UTC) + timedelta(seconds=5)
    one, two = location_id(1), location_id(2)
    fake.installed = {one, two}
    await _produce(
        kafka_bootstrap,
        topic,
        [
            {"type": "INSTALL", "companyId": fake.company, "locationId": one,
             "timestamp": t.isoformat()},
            {"type": "ContactCreate", "locationId": one, "id": "c1", "timestamp": t.isoformat()},
            b"not a raw delivery",
            {"type": "INSTALL", "companyId": fake.company, "locationId": two,
             "timestamp": t.isoformat()},
            {"type": "UNINSTALL", "locationId": two,
             "timestamp": (t + timedelta(seconds=1)).isoformat()},
        ],
    )  # fmt: skip
    group = f"installs-{uuid.uuid4().hex[:8]}"
    handler = InstallHandler(agency, bootstrap=kafka_bootstrap, topic=topic, group_id=group)
    task = asyncio.create_task(handler.run())
    try:
        await _until(handler, 3)
        await _committed(kafka_admin, group, 5)  # the 5 records, once handled
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    rows = await pool.fetch("SELECT location_id, state FROM ghl_installations ORDER BY 1")
    assert [(r["location_id"], r["state"]) for r in rows] == [
        (one, "installed"),
        (two, "uninstalled"),
    ]
    assert handler.stats.app_events == 3
    assert handler.stats.unreadable == 1
    assert fake.calls["location_token"] == 2
    # A second handler in the same group resumes after the committed offsets: nothing again.
    again = InstallHandler(agency, bootstrap=kafka_bootstrap, topic=topic, group_id=group)
    await _produce(
        kafka_bootstrap,
        topic,
        [{"type": "INSTALL", "companyId": fake.company, "locationId": one,
          "timestamp": t.isoformat()}],
    )  # fmt: skip
    task = asyncio.create_task(again.run())
    try:
        await _until(again, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert again.stats.app_events == 1
    last = await pool.fetchrow("SELECT outcome FROM ghl_install_log ORDER BY id DESC LIMIT 1")
    assert last is not None
    assert last["outcome"] == "duplicate"
    assert fake.calls["location_token"] == 2
    await agency.aclose()
