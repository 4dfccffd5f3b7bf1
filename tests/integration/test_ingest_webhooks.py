"""The webhook receiver against the real Kafka broker and PostgreSQL: accepted deliveries are
on `ghl.raw.v1`, replays are dropped across instances, a dead broker gets 429, and a claim left
by a crashed receiver does not swallow the redelivery."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.webhooks import (
    Claim,
    PostgresReceiptStore,
    RawDelivery,
    WebhookSettings,
    create_app,
)
from streams.admin import ensure_topics, partitions_of
from tests.unit.ingest.ingest_helpers import ED_KEY, ed_sign, pem

pytestmark = pytest.mark.integration

PEM = pem(ED_KEY)
URL = "/webhooks/ghl"


def _signed(**fields: Any) -> tuple[bytes, dict[str, str]]:
    data = {
        "type": "ContactCreate",
        "locationId": "locA",
        "id": "c1",
        "webhookId": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        **fields,
    }
    raw = json.dumps(data).encode()
    return raw, ed_sign(raw)


@pytest.fixture
async def receiver_settings(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any
) -> WebhookSettings:
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, [f"{prefix}ghl.raw.v1"], partitions=3)
    return WebhookSettings.model_validate(
        {
            "ed25519_public_keys": (PEM,),
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": prefix,
            "database_url": test_settings.database_url,
            "database_schema": pg_schema,
        }
    )


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    stack: list[Any] = []

    async def start(settings: WebhookSettings) -> httpx.AsyncClient:
        app = create_app(settings)
        ctx = app.router.lifespan_context(app)
        await ctx.__aenter__()
        stack.append(ctx)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r")

    yield start
    for ctx in reversed(stack):
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def receiver(receiver_settings: WebhookSettings, serve: Any) -> httpx.AsyncClient:
    """A client of one receiver serving `receiver_settings`."""
    client: httpx.AsyncClient = await serve(receiver_settings)
    return client


async def _raw_records(settings: WebhookSettings, bootstrap: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        f"{settings.topic_prefix}ghl.raw.v1",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records: list[Any] = []
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                return records
            records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()


async def test_accepted_delivery_is_on_the_raw_topic(
    receiver: httpx.AsyncClient,
    receiver_settings: WebhookSettings,
    kafka_bootstrap: str,
    pg: asyncpg.Connection,
) -> None:
    raw, headers = _signed()
    response = await receiver.post(URL, content=raw, headers=headers)
    assert response.status_code == 200
    [record] = await _raw_records(receiver_settings, kafka_bootstrap)
    delivery = RawDelivery.from_record(record.value, record.key, record.headers)
    assert delivery.body == raw
    assert record.key == b"locA:c1"
    assert delivery.webhook_id == json.loads(raw)["webhookId"]
    row = await pg.fetchrow("SELECT state, raw_offset FROM webhook_receipts")
    assert row is not None
    assert (row["state"], row["raw_offset"]) == ("persisted", record.offset)


async def test_replay_is_dropped_across_instances(
    receiver_settings: WebhookSettings, serve: Any, kafka_bootstrap: str
) -> None:
    first, second = await serve(receiver_settings), await serve(receiver_settings)
    raw, headers = _signed()
    assert (await first.post(URL, content=raw, headers=headers)).json()["status"] == "accepted"
    again = await second.post(URL, content=raw, headers=headers)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert len(await _raw_records(receiver_settings, kafka_bootstrap)) == 1


async def test_broker_down_answers_429_and_records_nothing(
    receiver_settings: WebhookSettings, serve: Any, pg: asyncpg.Connection
) -> None:
    dead = receiver_settings.model_copy(
        update={"kafka_bootstrap_servers": "127.0.0.1:1", "produce_timeout_seconds": 1.0}
    )
    client = await serve(dead)
    raw, headers = _signed()
    response = await client.post(URL, content=raw, headers=headers)
    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert await pg.fetchval("SELECT count(*) FROM webhook_receipts") == 0


async def test_a_crashed_receivers_claim_does_not_swallow_the_redelivery(
    receiver_settings: WebhookSettings, serve: Any, kafka_bootstrap: str, pg: asyncpg.Connection
) -> None:
    raw, headers = _signed()
    webhook_id = json.loads(raw)["webhookId"]
    # What a receiver killed between its claim and Kafka's ack leaves behind.
    await pg.execute(
        "INSERT INTO webhook_receipts (webhook_id, state, claim_token, claimed_at) "
        "VALUES ($1, 'claimed', $2, now() - interval '1 hour')",
        webhook_id,
        uuid.uuid4(),
    )
    client = await serve(receiver_settings)
    response = await client.post(URL, content=raw, headers=headers)
    assert response.json()["status"] == "accepted"
    assert len(await _raw_records(receiver_settings, kafka_bootstrap)) == 1


async def test_concurrent_claims_of_one_id_have_one_owner(
    pg: asyncpg.Connection, pg_schema: str, test_settings: Any
) -> None:
    pool = await asyncpg.create_pool(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    try:
        store = PostgresReceiptStore(pool, lease_seconds=30)
        ids = [f"wh-{n}" for n in range(40)] * 3  # every id claimed three times at once
        claims = await asyncio.gather(*(store.claim(i, uuid.uuid4()) for i in ids))
        owners = Counter(i for i, c in zip(ids, claims, strict=True) if c is Claim.OWNED)
        assert owners == Counter({f"wh-{n}": 1 for n in range(40)})
        assert set(claims) <= {Claim.OWNED, Claim.IN_FLIGHT}

        token = uuid.uuid4()
        assert await store.claim("solo", token) is Claim.OWNED
        await store.confirm("solo", token, partition=2, offset=7)
        assert await store.claim("solo", uuid.uuid4()) is Claim.DUPLICATE
        row = await pg.fetchrow("SELECT * FROM webhook_receipts WHERE webhook_id = 'solo'")
        assert row is not None
        assert (row["state"], row["raw_partition"], row["raw_offset"]) == ("persisted", 2, 7)
    finally:
        await pool.close()


async def test_many_concurrent_deliveries_are_all_persisted_once(
    receiver: httpx.AsyncClient,
    receiver_settings: WebhookSettings,
    kafka_bootstrap: str,
    pg: asyncpg.Connection,
) -> None:
    deliveries = [_signed(id=f"c{n}") for n in range(200)]
    first = await asyncio.gather(*(receiver.post(URL, content=r, headers=h) for r, h in deliveries))
    again = await asyncio.gather(*(receiver.post(URL, content=r, headers=h) for r, h in deliveries))
    assert {r.json()["status"] for r in first} == {"accepted"}
    assert {r.json()["status"] for r in again} == {"duplicate"}
    records = await _raw_records(receiver_settings, kafka_bootstrap)
    assert sorted(r.value for r in records) == sorted(raw for raw, _ in deliveries)
    assert (
        await pg.fetchval("SELECT count(*) FROM webhook_receipts WHERE state = 'persisted'") == 200
    )


async def test_the_receiver_creates_the_raw_topic_never_expiring(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, pg_schema: str, test_settings: Any,
    serve: Any,
) -> None:  # fmt: skip
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    settings = WebhookSettings.model_validate(
        {
            "ed25519_public_keys": (PEM,),
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": prefix,
            "topic_partitions": 4,
            "database_url": test_settings.database_url,
            "database_schema": pg_schema,
        }
    )
    client = await serve(settings)
    raw, headers = _signed()
    assert (await client.post(URL, content=raw, headers=headers)).status_code == 200
    topic = f"{prefix}ghl.raw.v1"
    try:
        assert await partitions_of(kafka_bootstrap, topic) == [0, 1, 2, 3]
        [described] = await kafka_admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
        configs = {c[0]: c[1] for c in described.resources[0][4]}
        assert (configs["retention.ms"], configs["retention.bytes"]) == ("-1", "-1")
        assert configs["cleanup.policy"] == "delete"
    finally:
        await kafka_admin.delete_topics([topic])
