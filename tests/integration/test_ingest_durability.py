"""Durability of the webhook receiver: `ghl-sync webhooks` runs as a real process against a
real broker, a GHL-like sender streams signed deliveries and retries every non-2xx (GHL does),
and mid-stream either the receiver is killed with SIGKILL or the broker is restarted. Every
delivery that got a 2xx must be on `ghl.raw.v1` afterwards.

The broker restart uses a private broker of its own (free ports, a temporary state folder,
the stack's cached jars): the shared stack's broker is never touched.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.outage import PrivateBroker, free_port
from streams.admin import partitions_of
from tests.factories.processes import ended_after
from tests.unit.ingest.ingest_helpers import ED_KEY, ed_sign, pem

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GHL_SYNC = str(Path(sys.executable).parent / "ghl-sync")
PEM = pem(ED_KEY)
PATH = "/webhooks/ghl"


def _free_port() -> int:
    # Below the ephemeral range: the stack refuses to run a broker inside it (a client's
    # source port could take the broker's port while it restarts).
    return free_port()


def _delivery(n: int) -> tuple[str, bytes, dict[str, str]]:
    webhook_id = str(uuid.uuid4())
    data = {
        "type": "ContactUpdate",
        "locationId": "locD",
        "id": f"c{n % 50}",
        "firstName": f"n{n}",
        "webhookId": webhook_id,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        **ed_sign(raw),
    }
    return webhook_id, raw, headers


@dataclass
class _Receiver:
    """`ghl-sync webhooks` as a child process, configured through its environment."""

    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [GHL_SYNC, "webhooks"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )

    async def ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    pytest.fail(f"receiver exited: {self.log.read_text()[-3000:]}")
                try:
                    if (await client.get("/healthz", timeout=1.0)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"receiver not serving after {within}s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class _Outcome:
    sent: float
    answered: float
    status: int | None  # None: no answer (refused, reset, timed out)


@dataclass
class _Ghl:
    """Sends deliveries like GHL: each one again and again until it gets a 2xx."""

    url: str
    accepted: set[str] = field(default_factory=set)
    outcomes: list[_Outcome] = field(default_factory=list)
    _milestones: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    def reached(self, accepted: int) -> asyncio.Event:
        """Set once `accepted` deliveries got their 2xx."""
        event = asyncio.Event()
        self._milestones.append((accepted, event))
        if len(self.accepted) >= accepted:
            event.set()
        return event

    async def stream(self, count: int, *, concurrency: int = 8, pace: float = 0.0) -> None:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as client:

            async def one(n: int) -> None:
                webhook_id, raw, headers = _delivery(n)
                async with gate:
                    for _ in itertools.count():
                        if await self._send(client, raw, headers):
                            break
                        await asyncio.sleep(0.1)  # GHL waits minutes; compressed here
                    self.accepted.add(webhook_id)
                    for count, event in self._milestones:
                        if len(self.accepted) >= count:
                            event.set()
                    await asyncio.sleep(pace)

            await asyncio.gather(*(one(n) for n in range(count)))

    async def _send(self, client: httpx.AsyncClient, raw: bytes, headers: dict[str, str]) -> bool:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            status: int | None = (await client.post(PATH, content=raw, headers=headers)).status_code
        except httpx.HTTPError:
            status = None
        self.outcomes.append(_Outcome(sent, loop.time(), status))
        return status is not None and 200 <= status < 300


async def _webhook_ids_on(bootstrap: str, topic: str) -> list[str]:
    """Every record's `ghl-webhook-id`, reading each partition to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
        assert partitions, f"{topic} does not exist"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        ids: list[str] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                ids.extend(dict(r.headers)["ghl-webhook-id"].decode() for r in records)
        return ids
    finally:
        await consumer.stop()


def _receiver_env(
    *, port: int, bootstrap: str, prefix: str, database_url: str, schema: str
) -> dict[str, str]:
    return {
        **os.environ,
        "GHL_SYNC_WEBHOOKS_PORT": str(port),
        "GHL_SYNC_WEBHOOKS_ED25519_PUBLIC_KEYS": json.dumps([PEM]),
        "GHL_SYNC_WEBHOOKS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "GHL_SYNC_WEBHOOKS_TOPIC_PREFIX": prefix,
        "GHL_SYNC_WEBHOOKS_TOPIC_PARTITIONS": "3",
        "GHL_SYNC_WEBHOOKS_DATABASE_URL": database_url,
        "GHL_SYNC_WEBHOOKS_DATABASE_SCHEMA": schema,
        # A killed receiver's claims expire fast, so the test need not wait 30 s for them.
        "GHL_SYNC_WEBHOOKS_CLAIM_LEASE_SECONDS": "2",
        "GHL_SYNC_WEBHOOKS_PRODUCE_TIMEOUT_SECONDS": "2",
        "GHL_SYNC_WEBHOOKS_RETRY_AFTER_SECONDS": "1",
    }


@pytest.fixture
def receivers() -> Iterator[list[_Receiver]]:
    yield from ended_after(_Receiver.stop)


async def _ready_receiver(
    receivers: list[_Receiver], bootstrap: str, database_url: str, schema: str, log: Path
) -> tuple[_Receiver, str]:
    """A receiver process on a free port under a fresh topic prefix, ready to take deliveries
    (stopped when the test ends); and that prefix."""
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    port = _free_port()
    env = _receiver_env(
        port=port, bootstrap=bootstrap, prefix=prefix, database_url=database_url, schema=schema
    )
    receiver = _Receiver(env, port, log)
    receivers.append(receiver)
    receiver.start()
    await receiver.ready()
    return receiver, prefix


async def test_receiver_killed_mid_stream_loses_no_acknowledged_delivery(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any, tmp_path: Path, receivers: Any
) -> None:
    receiver, prefix = await _ready_receiver(
        receivers, kafka_bootstrap, test_settings.database_url, pg_schema, tmp_path / "receiver.log"
    )
    ghl = _Ghl(receiver.url)
    total = 600

    async def kill_mid_stream() -> int:
        await ghl.reached(total // 3).wait()
        receiver.kill()
        killed_at = len(ghl.accepted)
        await asyncio.sleep(0.5)  # GHL keeps sending meanwhile: refused connections
        receiver.start()
        await receiver.ready()
        return killed_at

    async with asyncio.timeout(90):
        killed_at, _ = await asyncio.gather(kill_mid_stream(), ghl.stream(total))

    assert killed_at < total, "the kill came after the stream ended"
    assert any(o.status is None for o in ghl.outcomes), "no delivery saw the receiver die"
    assert len(ghl.accepted) == total
    on_topic = await _webhook_ids_on(kafka_bootstrap, f"{prefix}ghl.raw.v1")
    assert ghl.accepted <= set(on_topic), "acknowledged deliveries missing from ghl.raw.v1"


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    # On free ports rather than fixed ones (two runs of the suite on one machine must not
    # collide), with the shared stack's cached jars.
    broker = PrivateBroker(tmp_path / "stack")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def test_broker_restart_mid_stream_loses_no_acknowledged_delivery(
    private_broker: PrivateBroker, pg_schema: str, test_settings: Any, tmp_path: Path,
    receivers: Any,
) -> None:  # fmt: skip
    broker = private_broker
    bootstrap = broker.bootstrap
    receiver, prefix = await _ready_receiver(
        receivers, bootstrap, test_settings.database_url, pg_schema, tmp_path / "receiver.log"
    )
    ghl = _Ghl(receiver.url)
    loop = asyncio.get_running_loop()
    outage: list[float] = []

    async def restart_mid_stream() -> None:
        await ghl.reached(100).wait()
        await broker.stop()
        outage.append(loop.time())
        # The broker is down: every answer now must be non-2xx. Long enough that answers come
        # back within it: a write may spend the produce timeout (2 s) starting a producer and
        # as much again sending, and a loaded machine adds to both.
        await asyncio.sleep(8.0)
        outage.append(loop.time())
        await broker.start()

    # Paced, so the stream outlasts the restart: ~8 deliveries in flight, 40 ms apart each.
    async with asyncio.timeout(90):
        await asyncio.gather(restart_mid_stream(), ghl.stream(800, pace=0.04))

    down, up = outage
    during = [o for o in ghl.outcomes if o.sent >= down and o.answered <= up]
    assert during, "no delivery was attempted while the broker was down"
    assert not [o for o in during if o.status and 200 <= o.status < 300], "2xx while down"
    assert any(o.status == 429 for o in during)
    assert len(ghl.accepted) == 800
    assert max(o.answered for o in ghl.outcomes) > up, "the stream ended before the restart"
    on_topic = await _webhook_ids_on(bootstrap, f"{prefix}ghl.raw.v1")
    assert ghl.accepted <= set(on_topic), "acknowledged deliveries missing from ghl.raw.v1"
