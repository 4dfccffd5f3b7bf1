"""Projection benchmark: batched worker vs a naive agent, replay of 1,000,000 events.

Runs against the local stack (`ghl-sync stack up`), Kafka and PostgreSQL on this machine.

    .venv/bin/python bench/projections.py [--events 300000] [--naive-seconds 30]
        [--replay-events 1000000]

1. Produces a realistic mix of contact, task, note and appointment snapshots and deletions
   to a fresh `ghl.events.v1` (6 partitions).
2. Starts `ghl-sync worker` (projections only) and times it from its first applied batch to
   its last: sustained events per second, and the worker's peak resident memory.
3. Runs a naive Faust agent on the same topic: one upsert and one commit per event.
4. Produces `--replay-events` events to another topic and times `replay` on them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import faust
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import applied_rate, drop_schema
from services.db.migrate import apply_migrations
from streams.admin import ensure_topics
from streams.app import create_app
from streams.projections.lag import projection_lag
from streams.projections.replay import replay
from streams.projections.store import ConsumedRecord, ProjectionStore
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.factories import encoded, event_stream, produce

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
GHL_SYNC = Path(sys.executable).with_name("ghl-sync")


async def _fresh(tag: str) -> StreamsSettings:
    run = uuid.uuid4().hex[:8]
    schema = f"bench_{tag}_{run}"
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await apply_migrations(conn, schema=schema)
    finally:
        await conn.close()
    settings = StreamsSettings(
        kafka_bootstrap_servers=BOOTSTRAP,
        topic_prefix=f"bench-{tag}-{run}.",
        app_id=f"bench-{tag}-{run}",
        database_url=SecretStr(DATABASE_URL),
        database_schema=schema,
        batch_size=5000,
    )
    await ensure_topics(BOOTSTRAP, topic_names(settings).all(), partitions=6)
    return settings


async def _load(settings: StreamsSettings, total: int, seed: int) -> float:
    started = time.perf_counter()
    events = list(event_stream(total, seed=seed))
    values, keys = encoded(events)
    del events
    chunk = 100_000
    for i in range(0, len(values), chunk):
        await produce(BOOTSTRAP, topic_names(settings).events, values[i : i + chunk],
                      keys[i : i + chunk])  # fmt: skip
    return time.perf_counter() - started


async def _drop(settings: StreamsSettings) -> None:
    await drop_schema(DATABASE_URL, settings.database_schema)


async def _caught_up(settings: StreamsSettings) -> bool:
    lags = await projection_lag(settings)
    return bool(lags) and all(p.lag == 0 for p in lags)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_store(total: int, write: str, batch: int = 5000) -> dict[str, float]:
    """The store alone on `total` events in batches: events/s, CPU per 100k of this process
    (decode + rows + asyncpg) and of its PostgreSQL backend. No Kafka: this isolates how rows
    are written (`copy`: COPY into staging tables and one upsert per table; `unnest`: one
    upsert per table over array parameters)."""
    settings = await _fresh(f"store{write}")
    values, _ = encoded(list(event_stream(total, seed=1)))
    records = [ConsumedRecord("events", i % 6, i // 6, v) for i, v in enumerate(values)]
    conn = await asyncpg.connect(
        DATABASE_URL, server_settings={"search_path": settings.database_schema}
    )
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        store = ProjectionStore("bench", write=write)
        pg0, cpu0, wall0 = _cpu_seconds(backend), time.process_time(), time.perf_counter()
        for i in range(0, total, batch):
            await store.apply(conn, records[i : i + batch])
        wall = time.perf_counter() - wall0
        cpu, pg = time.process_time() - cpu0, _cpu_seconds(backend) - pg0
    finally:
        await conn.close()
    await _drop(settings)
    return {
        "events_per_s": total / wall,
        "cpu_per_100k": cpu / total * 100_000,
        "pg_cpu_per_100k": pg / total * 100_000,
    }


def _pg_client_ports(pid: int) -> list[int]:
    """Local ports of `pid`'s TCP connections to PostgreSQL (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    pg_port = int(DATABASE_URL.rsplit(":", 1)[1].split("/", 1)[0])
    ports = []
    # tcp6 too: the JVM opens IPv6 sockets (an IPv4 peer appears as ::ffff:127.0.0.1).
    lines = [
        line
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        for line in Path(table).read_text().splitlines()[1:]
    ]
    for line in lines:
        cols = line.split()
        local, remote, inode = cols[1], cols[2], cols[9]
        if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == pg_port:
            ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports


async def pg_backends_of(pids: list[int]) -> list[int]:
    """The PostgreSQL backends serving the processes `pids` (found by their client ports)."""
    ports = [port for pid in pids for port in _pg_client_ports(pid)]
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])", ports
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


async def _pg_cpu_of(pids: list[int]) -> float:
    """CPU seconds of the PostgreSQL backends serving the processes `pids`."""
    return sum(_cpu_seconds(pid) for pid in await pg_backends_of(pids))


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_worker(
    settings: StreamsSettings, total: int, workers: int = 1
) -> tuple[float, float]:
    """(events/s from first to last batch, peak RSS MiB per process) of `ghl-sync worker`s.

    Several workers split the topic's partitions through their consumer group.
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": settings.topic_prefix,
        "GHL_SYNC_STREAMS_APP_ID": settings.app_id,
        "GHL_SYNC_STREAMS_DATABASE_URL": DATABASE_URL,
        "GHL_SYNC_STREAMS_DATABASE_SCHEMA": settings.database_schema,
        "GHL_SYNC_STREAMS_BATCH_SIZE": str(settings.batch_size),
        "GHL_SYNC_STREAMS_PROCESSORS": '["projections"]',
        "GHL_SYNC_STREAMS_METRICS_PORT": "0",
    }
    processes = [
        await asyncio.create_subprocess_exec(
            str(GHL_SYNC),
            "worker",
            "--loglevel",
            "warning",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        # Polls the broker and the database: there is no event to wait on.
        while not await _caught_up(settings):  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        peak = max(_peak_rss_mib(p.pid) for p in processes)
        cpu = sum(_cpu_seconds(p.pid) for p in processes)
        pg_cpu = await _pg_cpu_of([p.pid for p in processes])
        print(
            f"  worker CPU {cpu / total * 100_000:.2f} s per 100k events (start-up included), "
            f"its PostgreSQL backends {pg_cpu / total * 100_000:.2f} s per 100k, "
            f"loadavg {_loadavg()}"
        )
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            await asyncio.wait_for(p.wait(), timeout=60)
    return await applied_rate(DATABASE_URL, settings.database_schema, total), peak


async def bench_naive(settings: StreamsSettings, seconds: float) -> float:
    """Events per second of a Faust agent doing one upsert and one commit per event."""
    app = create_app(settings, app_id=f"{settings.app_id}-naive")
    topic = app.topic(
        topic_names(settings).events, key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw", partitions=6,
    )  # fmt: skip
    store = ProjectionStore("naive")
    conn = await asyncpg.connect(
        DATABASE_URL, server_settings={"search_path": settings.database_schema}
    )
    count = 0
    first: float | None = None

    @app.agent(topic)
    async def naive(stream: faust.StreamT[bytes]) -> None:
        nonlocal count, first
        async for event in stream.events():
            m = event.message
            await store.apply(conn, [ConsumedRecord(m.topic, m.partition, m.offset, m.value)])
            first = first or time.perf_counter()
            count += 1

    await app.start()
    try:
        while first is None:  # noqa: ASYNC110 - the agent sets it; polling keeps it simple
            await asyncio.sleep(0.1)
        await asyncio.sleep(seconds)
        elapsed, done = time.perf_counter() - first, count
    finally:
        await app.stop()
        await conn.close()
    return done / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--naive-seconds", type=float, default=30.0)
    parser.add_argument("--replay-events", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (max 6)")
    parser.add_argument(
        "--store-only", action="store_true", help="copy vs unnest, A B A B, without Kafka"
    )
    args = parser.parse_args()

    if args.store_only:
        for run in range(3):
            for write in ("copy", "unnest"):
                r = await bench_store(args.events, write)
                print(
                    f"run {run + 1} {write:6}: {r['events_per_s']:,.0f} events/s, "
                    f"client CPU {r['cpu_per_100k']:.2f} s/100k, "
                    f"PostgreSQL backend CPU {r['pg_cpu_per_100k']:.2f} s/100k, "
                    f"loadavg {_loadavg()}"
                )
        return

    single = await _fresh("one")
    load = await _load(single, args.events, seed=1)
    print(f"produced {args.events:,} events in {load:.1f}s")
    one_rate, peak = await bench_worker(single, args.events)
    print(f"1 batched worker: {one_rate:,.0f} events/s sustained, peak RSS {peak:.0f} MiB")
    await _drop(single)
    settings = await _fresh("live")
    await _load(settings, args.events, seed=1)
    rate, peak = await bench_worker(settings, args.events, workers=args.workers)
    print(
        f"{args.workers} batched workers: {rate:,.0f} events/s sustained, "
        f"peak RSS {peak:.0f} MiB per worker"
    )
    naive_settings = await _fresh("naive")
    await _drop(naive_settings)
    naive_settings = naive_settings.model_copy(
        update={"database_schema": settings.database_schema + "_naive"}
    )
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await apply_migrations(conn, schema=naive_settings.database_schema)
    finally:
        await conn.close()
    naive_rate = await bench_naive(
        naive_settings.model_copy(update={"topic_prefix": settings.topic_prefix}),
        args.naive_seconds,
    )
    print(f"naive agent (one upsert + commit per event): {naive_rate:,.0f} events/s")
    print(f"ratio 1 batched worker / naive: {one_rate / naive_rate:.1f}x")
    await _drop(settings)
    await _drop(naive_settings)

    if args.replay_events:
        big = await _fresh("replay")
        load = await _load(big, args.replay_events, seed=2)
        print(f"produced {args.replay_events:,} events in {load:.1f}s")
        started = time.perf_counter()
        report = await replay(big)
        wall = time.perf_counter() - started
        print(
            f"replay of {report.events:,} events: {wall:.1f}s wall "
            f"({report.events / wall:,.0f} events/s), swapped={report.swapped}"
        )
        await _drop(big)


if __name__ == "__main__":
    asyncio.run(main())
