"""The worker as a separate process, GHL being the simulator served over HTTP: a worker
restarted under webhook load normalises again within seconds (issue 13: it used to wait for
Faust's 60 s session of its killed predecessor, then for its whole held batch), and a worker
SIGKILLed in the middle of a burst loses and duplicates nothing (the tables equal GHL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
import uvicorn
from pydantic import SecretStr

from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator
from services.simulator.settings import PrivateIntegrationToken
from streams.topics import topic_names
from tests.factories.streams import end_offsets, streams_env
from tests.factories.waiting import until
from tests.integration._ingest_world import World, open_world, read_events

pytestmark = pytest.mark.integration

PIT = "pit-" + uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Served:
    world: World
    url: str


@contextlib.asynccontextmanager
async def _served_world(
    bootstrap: str, db: str, schema: str, contacts: int
) -> AsyncIterator[_Served]:
    """The harness's world, with a second simulator over HTTP on the same state for the
    worker process (its PIT is bound to the one location)."""
    async for world in open_world(bootstrap, db, schema, locations=1, contacts=contacts):
        [loc] = world.locations
        settings = SimulatorSettings(
            seed=7, locations=1, contacts_per_location=contacts, rate_limit_max=1_000_000,
            webhook_urls=(),
            private_integration_tokens=(
                PrivateIntegrationToken(token=SecretStr(PIT), location_id=loc),
            ),
        )  # fmt: skip
        app = create_simulator(settings, state=world.ghl)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))  # fmt: skip
        serving = asyncio.create_task(server.serve())
        try:
            for _ in iter(int, 1):  # uvicorn offers no event for "listening"
                if server.started:
                    break
                await asyncio.sleep(0.05)
            yield _Served(world, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await serving


class _Worker:
    def __init__(self, served: _Served, log: IO[bytes], processors: str) -> None:
        s = served.world.streams
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            **streams_env(s),
            "GHL_SYNC_STREAMS_TOPIC_PARTITIONS": str(s.topic_partitions),
            "GHL_SYNC_STREAMS_PROCESSORS": processors,
            "GHL_SYNC_STREAMS_METRICS_PORT": "0",
            "GHL_SYNC_STREAMS_BURST_SETTLE_SECONDS": "0.2",
            "GHL_SYNC_GHL_BASE_URL": served.url,
            "GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN": PIT,
            "GHL_SYNC_GHL_RATE_LIMIT_REQUESTS": "100000",
            "GHL_SYNC_GHL_RATE_LIMIT_INTERVAL": "1",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the process; returns the start's wall-clock time in ms."""
        started = time.time() * 1000
        code = ("from streams.settings import StreamsSettings\n"
                "from streams.worker import run_worker\n"
                "run_worker(StreamsSettings(), loglevel='warning')\n")  # fmt: skip
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parents[2])  # fmt: skip
        return started

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def worker_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    with (tmp_path / "worker.log").open("ab") as log:
        yield log


async def _at_least(value: Any, n: int) -> bool:
    return bool(await value >= n)


async def _events_after(world: World, since_ms: float, within: float) -> int:
    """The Kafka timestamp of the first event produced after `since_ms`."""
    topic = topic_names(world.streams).events
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        later = [
            ts for _, ts in await read_events(world.bootstrap, topic, idle_ms=300) if ts > since_ms
        ]
        if later:
            return min(later)
        await asyncio.sleep(0.5)
    raise AssertionError(f"no event within {within}s after the restart")


async def test_a_worker_restarted_under_webhook_load_normalises_again_within_10s(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any, worker_log: IO[bytes]
) -> None:
    async with _served_world(kafka_bootstrap, test_settings.database_url, pg_schema, 200) as served:
        world = served.world
        [loc] = world.locations
        ids = world.contact_ids(loc)
        worker = _Worker(served, worker_log, '["normalize"]')
        rnd = random.Random(3)
        stop = asyncio.Event()

        async def load() -> None:  # 20 webhooks a second, as long as the test runs
            while not stop.is_set():
                await world.announce(loc, [("ContactUpdate", rnd.choice(ids))])
                await asyncio.sleep(0.05)

        loader = asyncio.create_task(load())
        try:
            first = worker.start()
            await _events_after(world, first, within=60)
            await asyncio.sleep(2)
            worker.kill()
            restarted = worker.start()
            flowing = await _events_after(world, restarted, within=60)
            # Measured on event times: the restarted member's first event.
            print(f"restart -> first event: {flowing - restarted:.0f} ms")
            assert flowing - restarted < 10_000, flowing - restarted
        finally:
            stop.set()
            await loader
            worker.stop()


async def test_a_worker_sigkilled_during_a_burst_loses_and_duplicates_nothing(
    kafka_bootstrap: str, pg_schema: str, test_settings: Any, worker_log: IO[bytes]
) -> None:
    async with _served_world(
        kafka_bootstrap, test_settings.database_url, pg_schema, 3000
    ) as served:
        world = served.world
        [loc] = world.locations
        ids = world.contact_ids(loc)
        worker = _Worker(served, worker_log, '["projections", "normalize"]')
        try:
            worker.start()
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                await world.writer.bulk_update_tags(loc, "add", chunk, ["bulk"])
                await world.announce(loc, [("ContactTagUpdate", c) for c in chunk],
                                     stamp=datetime.now(UTC))  # fmt: skip
            events_topic = topic_names(world.streams).events
            await until(
                lambda: _at_least(end_offsets(kafka_bootstrap, events_topic), 200), within=60
            )
            worker.kill()  # in the middle of the burst's events
            produced = await end_offsets(kafka_bootstrap, events_topic)
            assert produced < len(ids), "the burst finished before the kill; kill earlier"
            worker.start()
            tagged = "SELECT count(*) FROM contacts WHERE 'bulk' = ANY(tags)"
            await until(lambda: _at_least(world.pool.fetchval(tagged), len(ids)), within=120)
        finally:
            worker.stop()
        truth = {c.id: sorted(c.tags or []) for c in world.ghl.locations[loc].contacts.values()}
        rows = {r["id"]: sorted(r["tags"]) for r in await world.pool.fetch(
            "SELECT id, tags FROM contacts WHERE location_id = $1", loc)}  # fmt: skip
        assert rows == {cid: tags for cid, tags in truth.items() if cid in rows}
        assert set(rows) == set(ids)
        assert await world.pool.fetchval("SELECT count(*) FROM contacts") == len(ids)
