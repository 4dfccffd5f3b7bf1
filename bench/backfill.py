"""Backfill benchmark: one location backfilled at its rate limit, with the PostgreSQL limiter.

    .venv/bin/python bench/backfill.py [--contacts 330]

Runs against the local stack (`ghl-sync stack up`): Kafka for `ghl.events.v1` (a fresh topic,
deleted afterwards), PostgreSQL for the rate ledger and the backfill progress (a fresh
schema, dropped afterwards).

1. Starts the GHL simulator as a separate uvicorn process, seeded with one location of
   `--contacts` contacts (with their tasks, notes and appointments): at GHL's 100 requests per
   10 s, the default needs a little over a minute of requests.
2. Backfills the location as `ghl-sync backfill` does (`Backfill` on the GHL client with its
   `PostgresRateLimiter`), counting every answer by status on the client's transport.
3. Runs the poller's first cycle on the handed-over location (onboarding = backfill + that
   cycle; target <= 1.05 GHL requests per contact).
4. Reports the share of the rate budget kept busy (requests made / (10 per s x run time), the
   run time being from the first request to the last answer), the 429s, how far the ETA of the
   first progress report was from the real duration, and checks every entity reached the topic.

Targets: >= 95% of the budget busy (the limiter paces at 100 per 10.1 s, so ~99% is the
ceiling); zero 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    create_schema,
    delete_topic,
    drop_schema,
    simulator_tokens,
    start_simulator,
)
from schemas import EventDecodeError, decode_event
from services.ghl import GhlSettings, PostgresRateLimiter, StaticTokenProvider, build_client
from services.poller import EventSink, Poller, PollerSettings, PollerStore
from services.poller.backfill import Backfill, BackfillProgress
from streams.admin import partitions_of

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")
if "--database-url" in sys.argv:
    DATABASE_URL = sys.argv[sys.argv.index("--database-url") + 1]
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


class _Counting(httpx.AsyncBaseTransport):
    """Counts answers by status, and when the first request left and the last answer came."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: Counter[int] = Counter()
        self.first: float | None = None
        self.last = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.first is None:
            self.first = time.monotonic()
        response = await self.inner.handle_async_request(request)
        self.last = time.monotonic()
        self.statuses[response.status_code] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _entities_on(topic: str) -> dict[str, set[str]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    seen: dict[str, set[str]] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(BOOTSTRAP, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    event = decode_event(record.value)
                    assert not isinstance(event, EventDecodeError)
                    seen.setdefault(event.entity_type, set()).add(event.entity_id)
    finally:
        await consumer.stop()
    return seen


async def run(args: argparse.Namespace) -> int:
    server, base_url = start_simulator(1, args.contacts, seed=21)
    tag = uuid.uuid4().hex[:8]
    schema, topic = f"bench_backfill_{tag}", f"bench-backfill-{tag}.ghl.events.v1"
    await create_schema(DATABASE_URL, schema)
    pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=2, max_size=8, server_settings={"search_path": schema}
    )
    try:
        state, tokens = await simulator_tokens(base_url, within=20)
        [(location, truth)] = state.items()
        token = SecretStr(tokens[location])
        settings = GhlSettings(base_url=base_url)
        limiter = PostgresRateLimiter(pool, settings)
        transport = _Counting(httpx.AsyncHTTPTransport())
        client = build_client(
            settings,
            token_provider=StaticTokenProvider(token),
            rate_limiter=limiter,
            transport=transport,
        )
        sink = EventSink(BOOTSTRAP, topic, partitions=6)
        await sink.start()
        rate = settings.rate_limit_requests / settings.rate_limit_interval
        etas: list[float] = []
        eta_at: list[float] = []
        last_print = [time.monotonic()]

        def report(p: BackfillProgress, *, requests_left: int) -> None:
            etas.append(requests_left / rate)
            eta_at.append(time.monotonic())
            if time.monotonic() - last_print[0] >= 10 or p.phase == "done":
                last_print[0] = time.monotonic()
                print(f"  ... {p.phase}: {p.contacts_done}/{p.contacts_total} contacts, "
                      f"{p.tasks_done} tasks, ETA {etas[-1]:.0f} s", flush=True)  # fmt: skip

        try:
            async with client:
                done = await Backfill(client, pool, sink, location).run(report)
                backfill_requests = sum(transport.statuses.values())
                # Onboarding ends with the poller's first cycle after the handover: it must
                # read only what changed since the backfill began (nothing, here).
                first = await Poller(client, PollerStore(pool), sink, PollerSettings()).run_cycle(
                    location
                )
                await limiter.aclose()
        finally:
            await sink.stop()
        seen = await _entities_on(topic)
    finally:
        await pool.close()
        await drop_schema(DATABASE_URL, schema)
        await delete_topic(BOOTSTRAP, topic)
        server.terminate()
        server.join(5)

    assert transport.first is not None
    seconds = transport.last - transport.first
    total = sum(transport.statuses.values())
    busy = total / (rate * seconds)
    too_many = transport.statuses.get(429, 0)
    missing = {
        kind: len({item["id"] for item in truth[key]} - seen.get(kind, set()))
        for kind, key in (
            ("contact", "contacts"), ("task", "tasks"), ("note", "notes"),
            ("appointment", "appointments"),
        )
    }  # fmt: skip
    print(f"Backfill of one location ({args.contacts} contacts, "
          f"{len(truth['tasks'])} tasks, {len(truth['notes'])} notes, "
          f"{len(truth['appointments'])} appointments) against the simulator, "
          "PostgresRateLimiter, budget 100 requests / 10 s")  # fmt: skip
    print(f"  phase              {done.phase}: {done.contacts_done} contacts, "
          f"{done.tasks_done} tasks")  # fmt: skip
    print(f"  requests           {total} in {seconds:.1f} s = {total / seconds:.2f} req/s, "
          f"statuses {dict(sorted(transport.statuses.items()))}")  # fmt: skip
    print(f"  budget kept busy   {100 * busy:.1f}%")
    print(f"  429 answers        {too_many}")
    print(f"  first ETA          {etas[0]:.0f} s, after the first page; the rest took "
          f"{transport.last - eta_at[0]:.0f} s")  # fmt: skip
    print(f"  missing on topic   {missing}")
    poll = total - backfill_requests
    print(f"  onboarding         backfill {backfill_requests} + first poll cycle {poll} "
          f"requests = {total / args.contacts:.3f} per contact (target <= 1.05); the cycle "
          f"read {first.contacts_read} contacts, skipped {first.contacts_skipped}")  # fmt: skip
    met = busy >= 0.95 and too_many == 0
    print(f"  target (>= 95% busy, zero 429s): {'MET' if met else 'NOT MET'}")
    if any(missing.values()):
        print("  ERROR: entities missing from the topic")
        return 2
    return 0 if met else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=330, help="contacts of the location")
    parser.add_argument("--database-url", default=DATABASE_URL)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
