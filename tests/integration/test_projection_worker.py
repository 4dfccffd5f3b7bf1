"""The projection worker on the real broker and database: crashes, dead letters, replay."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from streams.projections import diff_tables, dump_tables, reference_tables, rows_from_images
from streams.projections.consumer import ProjectionConsumer
from streams.projections.lag import projection_lag
from streams.projections.replay import replay
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.conftest import TestSettings
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import ensure_all_topics
from tests.factories.streams import streams_settings as fresh_streams_settings

pytestmark = pytest.mark.integration

GHL_SYNC = Path(sys.executable).with_name("ghl-sync")


@pytest.fixture
async def streams_settings(
    test_settings: TestSettings, pg_schema: str, kafka_bootstrap: str
) -> StreamsSettings:
    settings = fresh_streams_settings(
        kafka_bootstrap, test_settings.database_url, pg_schema, batch_size=3000
    )
    await ensure_all_topics(settings)
    return settings


def _start_worker(settings: StreamsSettings, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": settings.topic_prefix,
        "GHL_SYNC_STREAMS_APP_ID": settings.app_id,
        "GHL_SYNC_STREAMS_DATABASE_URL": settings.database_url.get_secret_value(),
        "GHL_SYNC_STREAMS_DATABASE_SCHEMA": settings.database_schema,
        "GHL_SYNC_STREAMS_BATCH_SIZE": str(settings.batch_size),
        "GHL_SYNC_STREAMS_PROCESSORS": '["projections"]',
        "GHL_SYNC_STREAMS_METRICS_PORT": "0",
    }
    return subprocess.Popen(
        [str(GHL_SYNC), "worker", "--loglevel", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _wait_caught_up(settings: StreamsSettings, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        lags = await projection_lag(settings)
        if lags and all(lag.lag == 0 for lag in lags):
            return
        assert time.monotonic() < deadline, f"not caught up after {within}s: {lags}"
        await asyncio.sleep(0.5)


async def test_sigkilled_repeatedly_during_100000_events_the_tables_are_exact(
    streams_settings: StreamsSettings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = streams_settings
    events = list(event_stream(100_000, seed=42))
    values, keys = encoded(events)
    topic = topic_names(settings).events
    rnd = random.Random(5)
    log = (tmp_path / "worker.log").open("ab")
    worker = _start_worker(settings, log)
    kills = 0
    try:
        # Produce in slices while the worker runs, killing it at random moments.
        step = len(values) // 4
        for i in range(0, len(values), step):
            await produce(settings.kafka_bootstrap_servers, topic, values[i : i + step],
                          keys[i : i + step])  # fmt: skip
            await asyncio.sleep(rnd.uniform(2.0, 5.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            worker = _start_worker(settings, log)
        await _wait_caught_up(settings, within=180)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
    assert kills >= 4

    expected = rows_from_images(reference_tables(events).values())
    assert diff_tables(await dump_tables(pg), expected, left_name="tables", right_name="spec") == []

    # The applied ranges tile every partition exactly: no event twice, none skipped.
    spans = await pg.fetch(
        "SELECT partition, from_offset, to_offset, events FROM applied_batches"
        " WHERE topic = $1 ORDER BY partition, from_offset",
        topic,
    )
    ends = {lag.partition: lag.end_offset for lag in await projection_lag(settings)}
    by_partition: dict[int, list[asyncpg.Record]] = {}
    for span in spans:
        by_partition.setdefault(span["partition"], []).append(span)
    for partition, end in ends.items():
        expected_from = 0
        for span in by_partition.get(partition, []):
            assert span["from_offset"] == expected_from, (partition, span)
            assert span["events"] == span["to_offset"] - span["from_offset"] + 1
            expected_from = span["to_offset"] + 1
        assert expected_from == end, (partition, expected_from, end)
    assert sum(s["events"] for s in spans) == len(events)


async def test_poison_events_are_dead_lettered_and_the_rest_applied(
    streams_settings: StreamsSettings, pg: asyncpg.Connection
) -> None:
    settings = streams_settings
    names = topic_names(settings)
    events = list(event_stream(300, seed=9))
    values, keys = encoded(events)
    poison = [b"not json at all", b'{"event_type": "contact.merged", "schema_version": 1}']
    await produce(
        settings.kafka_bootstrap_servers,
        names.events,
        [*values[:150], *poison, *values[150:]],
        [*keys[:150], b"loc:x", b"loc:y", *keys[150:]],
    )
    dead_before = _sample("ghl_sync_projection_dead_letters_total", reason="not JSON")
    consumer = ProjectionConsumer(settings)
    task = asyncio.create_task(consumer.run())
    try:
        await _wait_caught_up(settings, within=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert consumer.stats.dead_letters == 2
    assert _sample("ghl_sync_projection_dead_letters_total", reason="not JSON") == dead_before + 1
    for partition in consumer.stats.next_offsets:
        assert _sample("ghl_sync_projection_lag", partition=str(partition)) == 0
    expected = rows_from_images(reference_tables(events).values())
    assert diff_tables(await dump_tables(pg), expected) == []

    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        tps = [TopicPartition(names.events_dead_letters, p) for p in range(6)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        dead = []
        while len(dead) < 2:
            for records in (await reader.getmany(timeout_ms=2000)).values():
                dead.extend(records)
    finally:
        await reader.stop()
    reasons = {r.value: dict(r.headers)["x-dead-letter-reason"].decode() for r in dead}
    assert "not JSON" in reasons[b"not json at all"]
    assert "unknown event_type 'contact.merged'" in reasons[poison[1]]


async def test_replay_rebuilds_tables_identical_to_the_live_ones(
    streams_settings: StreamsSettings, pg: asyncpg.Connection
) -> None:
    settings = streams_settings
    events = list(event_stream(5000, seed=11))
    values, keys = encoded(events)
    await produce(settings.kafka_bootstrap_servers, topic_names(settings).events, values, keys)
    consumer = ProjectionConsumer(settings)
    task = asyncio.create_task(consumer.run())
    try:
        await _wait_caught_up(settings, within=60)
        live = await dump_tables(pg)
        report = await replay(settings)
        more_values, more_keys = encoded(list(event_stream(500, seed=12, prefix="more-")))
        # The live consumer keeps working on the swapped-in tables.
        await produce(settings.kafka_bootstrap_servers, topic_names(settings).events,
                      more_values, more_keys)  # fmt: skip
        await _wait_caught_up(settings, within=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert report.swapped
    assert report.events == len(events)
    assert live == rows_from_images(reference_tables(events).values())
    after = await dump_tables(pg)
    all_events = events + list(event_stream(500, seed=12, prefix="more-"))
    assert diff_tables(after, rows_from_images(reference_tables(all_events).values())) == []
    leftovers = await pg.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1", f"{settings.database_schema}_%"
    )
    assert leftovers == 0
