"""Reconnects are paced while Kafka is away: however many deliveries or commands arrive, the
receiver and the API reach for the broker at most once per backoff interval.

The "broker" is a listener that accepts every connection and closes it at once (a broker
that is going away), counting them: every reconnect attempt shows up as one accept.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from schemas.raw import RawDelivery
from services.api import ApiSettings
from services.api import create_app as create_api
from services.webhooks._sink import KafkaRawSink
from services.webhooks.exceptions import SinkUnavailable

pytestmark = pytest.mark.integration

SECONDS = 6.0


class _ClosingListener:
    """Accepts and drops connections, counting them."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None

    async def _handle(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.close()

    @property
    def bootstrap(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"


@pytest.fixture
async def dying_broker() -> AsyncIterator[_ClosingListener]:
    listener = _ClosingListener()
    listener.server = await asyncio.start_server(listener._handle, "127.0.0.1", 0)
    try:
        yield listener
    finally:
        listener.server.close()
        await listener.server.wait_closed()


def _delivery(n: int) -> RawDelivery:
    return RawDelivery(
        body=json.dumps({"type": "ContactUpdate", "id": f"c{n}"}).encode(),
        received_at=datetime.now(UTC),
        webhook_id=str(uuid.uuid4()),
        key="loc:c",
        signature_scheme="ed25519",
        signature="s",
    )


async def test_the_receiver_reconnects_once_per_backoff_interval_not_per_delivery(
    dying_broker: _ClosingListener,
) -> None:
    sink = KafkaRawSink(dying_broker.bootstrap, "t.ghl.raw.v1", timeout=1.0, partitions=1)
    refused = 0
    deliveries = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < SECONDS:
            deliveries += 1
            with pytest.raises(SinkUnavailable):
                await sink.write(_delivery(deliveries))
            refused += 1
            await asyncio.sleep(0.02)
    finally:
        await sink.aclose()
    assert refused == deliveries
    assert deliveries > 100
    # Backoff 0.5 s doubling to 5 s, jittered: a handful of attempts in 6 s, one connect each
    # (the first few may cost two). Without pacing it was one attempt per delivery.
    assert dying_broker.accepted <= 16, (dying_broker.accepted, deliveries)
    assert not sink.kafka.up
    assert sink.kafka.outages == 1


async def test_the_api_reconnects_with_backoff_and_refuses_commands_at_once(
    dying_broker: _ClosingListener, pg_schema: str, test_settings: Any
) -> None:
    key = "k-" + uuid.uuid4().hex
    settings = ApiSettings(
        api_keys=[SecretStr(key)],
        kafka_bootstrap_servers=dying_broker.bootstrap,
        database_url=SecretStr(test_settings.database_url),
        database_schema=pg_schema,
        topic_prefix=f"t-{uuid.uuid4().hex[:8]}.",
        produce_timeout_seconds=1.0,
    )
    app = create_api(settings)
    answers: list[int] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"X-API-Key": key},
        ) as http,
    ):
        connects_at_start = dying_broker.accepted
        started = time.monotonic()
        while time.monotonic() - started < SECONDS:
            body = {
                "command_id": f"cmd-{uuid.uuid4().hex}",
                "command_type": "task.create",
                "location_id": "loc",
                "contact_id": "c1",
                "payload": {"title": "Call", "dueDate": "2026-05-01T10:00:00Z"},
            }
            response = await http.post("/v1/commands", json=body)
            answers.append(response.status_code)
            assert response.headers["retry-after"].isdigit()
            await asyncio.sleep(0.02)
        ready = await http.get("/readyz")
        connects = dying_broker.accepted - connects_at_start
    assert set(answers) == {503}
    assert len(answers) > 100
    assert connects <= 16, (connects, len(answers))
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["kafka"]
