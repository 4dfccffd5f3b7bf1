"""`ghl-sync status` on the real broker and database: its figures equal theirs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from services.db.settings import DatabaseSettings
from services.ghl.settings import GhlSettings
from services.poller.settings import PollerSettings
from services.status import StatusReport, StatusSources, collect_status, normalize_group
from streams.projections import ConsumedRecord, ProjectionStore
from streams.topics import TopicNames, topic_names
from tests.conftest import TestSettings
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import ensure_all_topics, streams_settings

pytestmark = pytest.mark.integration

PARTITIONS = 3
T_WEBHOOK = datetime(2026, 11, 1, 12, tzinfo=UTC)
_CLI = (
    "import typer\n"
    "from services.status.cli import register\n"
    "app = typer.Typer()\n"
    "register(app)\n"
    "app.command('noop')(lambda: None)\n"
    "app()\n"
)


@pytest.fixture
async def sources(
    test_settings: TestSettings,
    pg_schema: str,
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
) -> AsyncIterator[StatusSources]:
    streams = streams_settings(
        kafka_bootstrap, test_settings.database_url, pg_schema, topic_partitions=PARTITIONS
    )
    names = topic_names(streams).all()
    await ensure_all_topics(streams)
    yield StatusSources(
        streams=streams,
        database=DatabaseSettings.model_validate(
            {"url": SecretStr(test_settings.database_url), "GHL_SYNC_DATABASE_SCHEMA": pg_schema}
        ),
        ghl=GhlSettings.model_validate({}),
        poller=PollerSettings(locations=("locConfigured",)),
    )
    await kafka_admin.delete_topics(names)


async def _read_all(bootstrap: str, topic: str, count: int) -> dict[int, list[ConsumedRecord]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        out: dict[int, list[ConsumedRecord]] = defaultdict(list)
        while sum(len(v) for v in out.values()) < count:
            for tp, records in (await consumer.getmany(timeout_ms=2000)).items():
                out[tp.partition] += [
                    ConsumedRecord(r.topic, r.partition, r.offset, r.value, r.key) for r in records
                ]
        return out
    finally:
        await consumer.stop()


async def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def _produce_raw_and_dead_letters(bootstrap: str, topics: TopicNames) -> dict[str, int]:
    """Ten deliveries for two locations (receive times known), and 3 + 2 dead letters."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    newest: dict[str, int] = {}
    try:
        for i in range(10):
            location = "locW1" if i % 5 else "locW2"
            at = int((T_WEBHOOK + timedelta(seconds=i)).timestamp() * 1000)
            newest[location] = max(newest.get(location, 0), at)
            await producer.send_and_wait(
                topics.raw, b"{}", key=f"{location}:c{i % 3}".encode(), timestamp_ms=at
            )
        for topic, n in ((topics.raw_dead_letters, 3), (topics.events_dead_letters, 2)):
            for i in range(n):
                await producer.send_and_wait(topic, b"bad", key=f"k{i}".encode())
    finally:
        await producer.stop()
    return newest


async def _commit_normalize(bootstrap: str, group: str, topic: str, offset: int) -> int:
    """Commit `offset` for the raw partition holding locW1's deliveries; returns it."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        records = await _read_all(bootstrap, topic, 10)
        holder = next(p for p, rs in records.items() if any(r.key == b"locW1:c1" for r in rs))
        consumer.assign([TopicPartition(topic, holder)])
        await consumer.commit({TopicPartition(topic, holder): offset})
        return holder
    finally:
        await consumer.stop()


async def _state_rows(pg: asyncpg.Connection) -> None:
    await pg.execute(
        "INSERT INTO ghl_tokens (location_id, access_token, refresh_token, expires_at,"
        " refresh_count) VALUES ('locA', 'cipher-of-access'::bytea, 'cipher-of-refresh'::bytea,"
        " now() + interval '1 hour', 2)"
    )
    await pg.execute(
        "INSERT INTO poller_locations (location_id, contacts_cursor, tasks_swept_at)"
        " VALUES ('locA', '2026-11-01T10:00:00Z', '2026-11-01T11:00:00Z')"
    )
    await pg.execute(
        "INSERT INTO backfill_progress (location_id, phase, contacts_done, tasks_done)"
        " VALUES ('locB', 'tasks', 1500, 40)"
    )
    await pg.fetch("SELECT * FROM ghl_rate_book('locA', 5, 10.0, 100, 10.0, 200000, 0.01)")
    for klass, n in (("incremental_poll", 3), ("children_sweep", 4)):
        await pg.fetch(
            "SELECT * FROM ghl_rate_book_v2('locB', $1, $2, 100.0, 100, 10.0, 200000, 0.01, 1.0)",
            klass,
            n,
        )
    await pg.execute(
        "INSERT INTO poller_leases (location_id, holder, expires_at)"
        " VALUES ('locB', 'host:42', now() + interval '30 seconds'),"
        " ('locA', 'host:dead', now() - interval '1 second')"
    )
    await pg.execute(
        "INSERT INTO poller_plans (location_id, holder, contacts, tasks, projected,"
        " projected_daily, staleness_bound_s, oldest_swept_at) VALUES ('locB', 'host:42', 1500,"
        " 40, '{}'::jsonb, 41000.5, 7200, '2026-11-01T09:00:00Z')"
    )
    await pg.execute(
        "INSERT INTO webhook_receipts (webhook_id, state, claim_token, claimed_at, persisted_at)"
        " VALUES ('w1', 'persisted', gen_random_uuid(), now(), now()),"
        " ('w2', 'persisted', gen_random_uuid(), now(), now()),"
        " ('w3', 'claimed', gen_random_uuid(), now(), NULL)"
    )
    if await pg.fetchval("SELECT to_regclass('writer_commands') IS NOT NULL"):
        await pg.execute(
            "INSERT INTO writer_commands (command_id, location_id, command_type, digest, command,"
            " state) SELECT 'cmd' || i, 'locA', 'contact.update', 'd', '{}'::jsonb,"
            " CASE WHEN i < 3 THEN 'accepted' ELSE 'succeeded' END FROM generate_series(1, 3) i"
        )


async def test_status_figures_equal_the_broker_and_the_database(
    sources: StatusSources, pg: asyncpg.Connection, kafka_admin: AIOKafkaAdminClient
) -> None:
    streams = sources.streams
    bootstrap = streams.kafka_bootstrap_servers
    topics = topic_names(streams)
    events = list(event_stream(120, seed=11))
    await produce(bootstrap, topics.events, *encoded(events))
    by_partition = await _read_all(bootstrap, topics.events, len(events))
    store = ProjectionStore(streams.projection_consumer)
    for records in by_partition.values():
        await store.apply(pg, records[: len(records) // 2])
    newest_webhook = await _produce_raw_and_dead_letters(bootstrap, topics)
    group = normalize_group(streams)
    holder = await _commit_normalize(bootstrap, group, topics.raw, 2)
    await _state_rows(pg)

    report = await collect_status(sources)

    # Lag: the broker's end offsets minus the stored (or committed) positions.
    event_ends, raw_ends = (
        await _ends(bootstrap, topics.events),
        await _ends(bootstrap, topics.raw),
    )
    stored = {
        r["partition"]: r["next_offset"]
        for r in await pg.fetch(
            "SELECT partition, next_offset FROM consumer_offsets WHERE consumer = $1",
            streams.projection_consumer,
        )
    }
    committed = {
        tp.partition: meta.offset
        for tp, meta in (await kafka_admin.list_consumer_group_offsets(group)).items()
    }
    assert stored == {p: len(rs) // 2 for p, rs in by_partition.items() if len(rs) // 2}
    assert committed == {holder: 2}
    lag = {(r.topic, r.partition): r for r in report.lag}
    assert len(lag) == 2 * PARTITIONS
    for p in range(PARTITIONS):
        row = lag[(topics.events, p)]
        assert (row.consumer, row.end_offset) == (streams.projection_consumer, event_ends[p])
        assert row.committed_offset == stored.get(p)
        assert row.lag == event_ends[p] - stored.get(p, 0)
        row = lag[(topics.raw, p)]
        assert (row.consumer, row.end_offset) == ("normalize", raw_ends[p])
        assert row.committed_offset == committed.get(p)
        assert row.lag == raw_ends[p] - committed.get(p, 0)
    assert report.total_lag == len(events) - sum(stored.values()) + 10 - 2

    assert {d.topic: d.count for d in report.dead_letters} == {
        topics.raw_dead_letters: 3,
        topics.events_dead_letters: 2,
        topics.commands_dead_letters: 0,
    }

    # Table counts equal the tables'.
    for t in report.tables:
        live, deleted = await pg.fetchrow(
            f"SELECT count(*) FILTER (WHERE deleted_at IS NULL),"
            f" count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM {t.table}"
        )
        assert (t.table, t.live, t.deleted) == (t.table, live, deleted)
    assert sum(t.live + t.deleted for t in report.tables) > 0
    assert report.webhooks.persisted == 2
    assert report.webhooks.claimed == 1
    if await pg.fetchval("SELECT to_regclass('writer_commands') IS NOT NULL"):
        assert report.commands == {"accepted": 2, "succeeded": 1}
    else:
        assert report.commands is None

    # Per location.
    locations = {loc.location_id: loc for loc in report.locations}
    # Counted row by row here, not with a GROUP BY like the one the report runs.
    contacts: dict[str, tuple[int, int]] = {}
    for r in await pg.fetch("SELECT location_id, deleted_at FROM contacts"):
        live, deleted = contacts.get(r["location_id"], (0, 0))
        if r["deleted_at"] is None:
            live += 1
        else:
            deleted += 1
        contacts[r["location_id"]] = (live, deleted)
    assert {"locA", "locB", "locW1", "locW2", "locConfigured", *contacts} == set(locations)
    for location, (live, deleted) in contacts.items():
        assert (locations[location].contacts_live, locations[location].contacts_deleted) == (
            live,
            deleted,
        )
    a = locations["locA"]
    assert a.token is not None
    assert a.token.refresh_count == 2
    assert 3500 < a.token.expires_in_seconds <= 3600
    assert a.budget is not None
    assert (a.budget.daily_left, a.budget.window_left) == (200_000 - 5, 100 - 5)
    assert a.poller is not None
    assert a.poller.contacts_cursor == datetime(2026, 11, 1, 10, tzinfo=UTC)
    b = locations["locB"]
    assert b.backfill is not None
    assert (b.backfill.phase, b.backfill.contacts_done, b.backfill.tasks_done) == (
        "tasks",
        1500,
        40,
    )
    # Leases, plans and today's requests by class.
    assert b.plan is not None
    assert b.plan.holder == "host:42"
    assert b.plan.requests_today == {"incremental_poll": 3, "children_sweep": 4}
    assert (b.plan.projected_daily, b.plan.staleness_bound_seconds) == (41000.5, 7200)
    assert b.plan.oldest_swept_at == datetime(2026, 11, 1, 9, tzinfo=UTC)
    assert a.plan is None  # its lease expired, no plan or count: nobody polls it
    for location, ms in newest_webhook.items():
        assert locations[location].last_webhook_at == datetime.fromtimestamp(ms / 1000, UTC)
    assert "cipher-of" not in report.model_dump_json()

    # The command prints the same figures as JSON, settings from its environment.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": streams.topic_prefix,
        "GHL_SYNC_STREAMS_APP_ID": streams.app_id,
        "GHL_SYNC_DATABASE_URL": sources.database.url.get_secret_value(),
        "GHL_SYNC_DATABASE_SCHEMA": sources.database.schema_name,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CLI,
        "status",
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()[-2000:]
    printed = StatusReport.model_validate(json.loads(stdout))
    assert printed.lag == report.lag
    assert printed.dead_letters == report.dead_letters
    assert printed.tables == report.tables
    assert [loc.location_id for loc in printed.locations] == [
        loc.location_id for loc in report.locations if loc.location_id != "locConfigured"
    ]
    assert b"cipher-of" not in stdout
