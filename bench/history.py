"""History benchmark: reads of a contact with 10,000 events, and what history costs the worker.

Runs against the local stack (`ghl-sync stack up`), Kafka and PostgreSQL on this machine.

    .venv/bin/python bench/history.py [--contact-events 10000] [--events 100000] [--runs 3]

1. Reads: a fresh schema holds one contact with `--contact-events` events (contact snapshots,
   and task, note and appointment snapshots) among 20,000 events of other contacts. Each run
   times the first history page (100 entries, `read_history`) and the `as_of` view at the
   newest and a middle time (`contact_view_as_of`), 30 warm calls each; the run's figure is
   their median.
2. Cost: the same event mix as bench/projections.py (`tests.factories.event_stream`) on a fresh
   6-partition topic, consumed by `ghl-sync worker` with processors ["projections"] and with
   ["projections", "history"]: the projections' events/s (first to last applied batch), and
   whether history caught up. Also both stores alone: CPU seconds per 100k events of this
   process and of its PostgreSQL backend.

Every figure is the median of `--runs` runs, printed with each run's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import applied_rate
from bench.projections import _cpu_seconds, _drop, _fresh, _loadavg
from schemas import Appointment, Contact, GhlEntity, Note, Task, encode_event
from services.api._history import contact_view_as_of
from streams.history.store import HistoryRecord, HistoryStore, read_history
from streams.projections.lag import projection_lag
from streams.projections.store import ConsumedRecord, ProjectionStore
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.factories import T0, encoded, event_stream, produce
from tests.factories.events import upserted

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
GHL_SYNC = Path(sys.executable).with_name("ghl-sync")
LOC, CID = "bench-loc", "bench-contact"


def _busy_contact(n: int) -> list[bytes]:
    """`n` events of one contact: mostly its own snapshots, every 10th one of a child."""
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=i)
        snapshot: GhlEntity
        if i % 10 == 3:
            snapshot = Task(id=f"t{i % 40}", title=f"Call {i}", contactId=CID, dateUpdated=at)
        elif i % 10 == 6:
            snapshot = Note(id=f"n{i}", body=f"note {i}", contactId=CID, dateAdded=at)
        elif i % 10 == 9:
            snapshot = Appointment(
                id=f"a{i % 20}", contactId=CID, calendarId="cal", title=f"Demo {i}",
                startTime=at, endTime=at + timedelta(minutes=30), dateUpdated=at,
            )  # fmt: skip
        else:
            snapshot = Contact(
                id=CID, locationId=LOC, firstName=f"Ann{i}", email=f"ann{i % 7}@example.com",
                tags=[f"t{i % 5}", "vip"], dateAdded=T0, dateUpdated=at,
            )  # fmt: skip
        source = "poll" if i % 10 == 3 else "webhook"
        out.append(encode_event(upserted(LOC, snapshot, source=source, observed_at=at)))
    return out


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def bench_reads(contact_events: int) -> dict[str, float]:
    """One run of the read figures (ms, median of 30 warm calls each)."""
    settings = await _fresh("historyreads")
    values = _busy_contact(contact_events)
    others, _ = encoded(list(event_stream(20_000, seed=3)))
    records = [HistoryRecord("events", i % 6, i // 6, v) for i, v in enumerate([*others, *values])]
    pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=1, max_size=2,
        server_settings={"search_path": settings.database_schema},
    )  # fmt: skip
    try:
        store = HistoryStore("bench")
        async with pool.acquire() as conn:
            for i in range(0, len(records), 5000):
                await store.apply(conn, records[i : i + 5000])
            await conn.execute("ANALYZE history_snapshots")
            count = await conn.fetchval(
                "SELECT count(*) FROM history_snapshots WHERE contact_id = $1", CID
            )
        assert count == contact_events, count
        newest = T0 + timedelta(seconds=contact_events)
        middle = T0 + timedelta(seconds=contact_events // 2)
        timings: dict[str, list[float]] = {"page": [], "as_of_newest": [], "as_of_middle": []}
        for _ in range(30):
            started = time.perf_counter()
            page = await read_history(pool, CID, limit=100)
            timings["page"].append(time.perf_counter() - started)
            assert len(page.entries) == 100
            for name, when in (("as_of_newest", newest), ("as_of_middle", middle)):
                started = time.perf_counter()
                view = await contact_view_as_of(pool, CID, None, when)
                timings[name].append(time.perf_counter() - started)
                assert view is not None
    finally:
        await pool.close()
        await _drop(settings)
    return {name: _median_ms(samples) for name, samples in timings.items()}


async def bench_stores(total: int, batch: int = 5000) -> dict[str, float]:
    """CPU s per 100k events of the projection store and the history store alone."""
    settings = await _fresh("historystores")
    values, _ = encoded(list(event_stream(total, seed=1)))
    out: dict[str, float] = {}
    conn = await asyncpg.connect(
        DATABASE_URL, server_settings={"search_path": settings.database_schema}
    )
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        for name in ("projections", "history"):
            pg0, cpu0, wall0 = _cpu_seconds(backend), time.process_time(), time.perf_counter()
            for i in range(0, total, batch):
                chunk = values[i : i + batch]
                if name == "projections":
                    await ProjectionStore("bench").apply(
                        conn, [ConsumedRecord("e", 0, i + k, v) for k, v in enumerate(chunk)]
                    )
                else:
                    await HistoryStore("bench").apply(
                        conn, [HistoryRecord("e", 0, i + k, v) for k, v in enumerate(chunk)]
                    )
            wall = time.perf_counter() - wall0
            cpu, pg = time.process_time() - cpu0, _cpu_seconds(backend) - pg0
            out[f"{name}_events_per_s"] = total / wall
            out[f"{name}_cpu_per_100k"] = cpu / total * 100_000
            out[f"{name}_pg_cpu_per_100k"] = pg / total * 100_000
    finally:
        await conn.close()
    await _drop(settings)
    return out


async def _history_done(settings: StreamsSettings, total: int) -> bool:
    conn = await asyncpg.connect(
        DATABASE_URL, server_settings={"search_path": settings.database_schema}
    )
    try:
        done = await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM history_offsets")
    finally:
        await conn.close()
    return int(done) >= total


async def bench_worker(topic_prefix: str, total: int, processors: str) -> tuple[float, float]:
    """(projection events/s, seconds until history caught up or nan) of one worker."""
    fresh = await _fresh("historyworker")
    settings = StreamsSettings(
        **{**fresh.model_dump(), "topic_prefix": topic_prefix,
           "database_url": SecretStr(DATABASE_URL)},
    )  # fmt: skip
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": topic_prefix,
        "GHL_SYNC_STREAMS_APP_ID": settings.app_id,
        "GHL_SYNC_STREAMS_DATABASE_URL": DATABASE_URL,
        "GHL_SYNC_STREAMS_DATABASE_SCHEMA": settings.database_schema,
        "GHL_SYNC_STREAMS_BATCH_SIZE": "5000",
        "GHL_SYNC_STREAMS_PROCESSORS": processors,
        "GHL_SYNC_STREAMS_METRICS_PORT": "0",
    }
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        str(GHL_SYNC), "worker", "--loglevel", "warning", env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    history_seconds = float("nan")
    try:
        # Polls the broker and the database: there is no event to wait on.
        while True:
            lags = await projection_lag(settings)
            if lags and all(p.lag == 0 for p in lags):
                break
            await asyncio.sleep(0.5)
        if "history" in processors:
            while not await _history_done(settings, total):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            history_seconds = time.perf_counter() - started
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=60)
    try:
        rate = await applied_rate(DATABASE_URL, settings.database_schema, total)
    finally:
        await _drop(settings)
    return rate, history_seconds


async def _medians(
    bench: Callable[[], Awaitable[dict[str, float]]], runs: int, *, unit: str = ""
) -> None:
    """Print each of `runs` runs of `bench`, then the median of each of its figures."""
    results = []
    for n in range(runs):
        result = await bench()
        results.append(result)
        print(f"  run {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items())
              + f"  loadavg {_loadavg()}")  # fmt: skip
    for key in results[0]:
        print(f"  median {key}: {statistics.median(r[key] for r in results):.2f}{unit}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contact-events", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", choices=["reads", "stores", "worker"], action="append")
    args = parser.parse_args()
    skip = set(args.skip or ())

    if "reads" not in skip:
        print(f"reads of one contact with {args.contact_events} events (ms, warm):")
        await _medians(lambda: bench_reads(args.contact_events), args.runs, unit=" ms")

    if "stores" not in skip:
        print(f"stores alone on {args.events} events:")
        await _medians(lambda: bench_stores(args.events), args.runs)

    if "worker" not in skip:
        prefix = f"bench-history-{uuid.uuid4().hex[:8]}."
        probe = StreamsSettings(kafka_bootstrap_servers=BOOTSTRAP, topic_prefix=prefix)
        from streams.admin import ensure_topics

        await ensure_topics(BOOTSTRAP, topic_names(probe).all(), partitions=6)
        values, keys = encoded(list(event_stream(args.events, seed=1)))
        for i in range(0, len(values), 100_000):
            await produce(BOOTSTRAP, topic_names(probe).events, values[i : i + 100_000],
                          keys[i : i + 100_000])  # fmt: skip
        print(f"worker on {args.events} events (projection events/s):")
        rates: dict[str, list[float]] = {"without": [], "with": []}
        for n in range(args.runs):
            for mode, processors in (
                ("without", '["projections"]'),
                ("with", '["projections", "history"]'),
            ):
                rate, hist = await bench_worker(prefix, args.events, processors)
                rates[mode].append(rate)
                extra = f", history caught up {hist:.1f} s after start" if mode == "with" else ""
                print(f"  run {n + 1} {mode} history: {rate:.0f} events/s{extra}"
                      f"  loadavg {_loadavg()}")  # fmt: skip
        without, with_ = statistics.median(rates["without"]), statistics.median(rates["with"])
        print(f"  median without {without:.0f}, with {with_:.0f} events/s: "
              f"cost {(1 - with_ / without) * 100:.1f}%")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
