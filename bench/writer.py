"""Writer benchmark: how much of GHL's write budget the writer keeps busy, and how long a
command takes from the commands topic to GHL's answer.

The simulator runs in a child process at GHL's real limits (100 requests / 10 s per location);
the writer runs here with the PostgreSQL rate ledger, as deployed, on fresh topics and a fresh
schema of the local stack.

    .venv/bin/python bench/writer.py                       # 12 locations, 30 s + 20 s
    .venv/bin/python bench/writer.py --locations 20 --seconds 60

Phase 1 (saturation): a backlog of commands; busy = GHL requests answered in the steady
window / (locations x 10 per second x window). Target >= 95% (the ledger paces at 98.5%).
Phase 2 (latency): commands produced at `--load` of the budget; command-to-GHL latency is
from the command's Kafka timestamp to GHL's answer, p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import drop_schema, fresh_schema, percentile, serve_simulator
from schemas import CommandBase, CreateNote, CreateTask, UpdateContact, command_key, encode_command
from services.ghl import GhlSettings, PostgresRateLimiter, StaticTokenProvider, build_client
from services.writer import Writer, WriterSettings, writer_topics
from streams.admin import ensure_topics

BUDGET_PER_SECOND = 10.0  # GHL: 100 requests per 10 s per location


class _Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.limited: list[float] = []
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=400))
        self.answers: list[float] = []
        self.status: dict[int, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.answers.append(time.monotonic())
        self.status[response.status_code] = self.status.get(response.status_code, 0) + 1
        if response.status_code == 429:
            self.limited.append(time.monotonic())
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _commands(locations: dict[str, Any], count: int, tag: str) -> list[CommandBase]:
    out: list[CommandBase] = []
    locs = list(locations.items())
    for n in range(count):
        loc, data = locs[n % len(locs)]
        contact = data["contacts"][(n // len(locs)) % len(data["contacts"])]["id"]
        cid = f"b-{tag}-{n}"
        kind = n % 3
        on = {"command_id": cid, "location_id": loc, "contact_id": contact}
        if kind == 0:
            due = datetime(2026, 8, 1, tzinfo=UTC)
            out.append(CreateTask(**on, payload={"title": cid, "dueDate": due}))
        elif kind == 1:
            out.append(CreateNote(**on, payload={"body": cid}))
        else:
            out.append(UpdateContact(**on, payload={"city": cid}))
    return out


async def _produce(producer: AIOKafkaProducer, topic: str, commands: list[CommandBase]) -> None:
    futures = [
        await producer.send(topic, encode_command(c), key=command_key(c).encode()) for c in commands
    ]
    await asyncio.gather(*futures)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--locations", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0, help="saturation phase")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not measured")
    parser.add_argument("--load", type=float, default=0.5, help="latency phase, of budget")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()

    proc, base_url = serve_simulator(args.locations, 20)
    url, schema = await fresh_schema()
    admin = httpx.AsyncClient(base_url=base_url, timeout=30)
    pool = await asyncpg.create_pool(url, server_settings={"search_path": schema}, max_size=20)
    transport = _Counting()
    try:
        locations = (await admin.get("/_admin/state")).json()["locations"]
        tokens = {}
        for loc in locations:
            minted = (await admin.post("/_admin/tokens", json={"locationId": loc})).json()
            tokens[loc] = SecretStr(minted["access_token"])
        ghl = GhlSettings(base_url=base_url)
        client = build_client(
            ghl,
            token_provider=StaticTokenProvider(tokens),
            rate_limiter=PostgresRateLimiter(pool, ghl),
            transport=transport,
        )
        settings = WriterSettings(
            kafka_bootstrap_servers=args.bootstrap,
            topic_prefix=f"bench-wb-{uuid.uuid4().hex[:8]}.",
            database_url=SecretStr(url),
            database_schema=schema,
        )
        topics = writer_topics(settings)
        await ensure_topics(args.bootstrap, topics.all(), partitions=settings.topic_partitions)
        producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        writer = Writer(settings, client=client, pool=pool)

        # Phase 1: a backlog a little larger than the budget allows in the phase.
        backlog = int(args.locations * BUDGET_PER_SECOND * (args.seconds + 4))
        await _produce(producer, topics.commands, _commands(locations, backlog, "sat"))
        running = asyncio.create_task(writer.run())
        start = time.monotonic()
        await asyncio.sleep(args.seconds)
        end = time.monotonic()
        warm = start + args.warmup
        answered = sum(1 for t in transport.answers if warm <= t <= end)
        budget = args.locations * BUDGET_PER_SECOND * (end - warm)
        busy = answered / budget
        sat_done = writer.stats.succeeded

        # Phase 2: let the backlog's rest drain, then an open-loop load below the budget.
        rate = args.locations * BUDGET_PER_SECOND * args.load
        latency_commands = _commands(locations, int(rate * args.latency_seconds), "lat")
        while writer.pending > 0:  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.2)
        writer.stats.latencies.clear()
        t0 = time.monotonic()
        for n, command in enumerate(latency_commands):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key = command_key(command).encode()
            await producer.send(topics.commands, encode_command(command), key=key)
        ids = [c.command_id for c in latency_commands]
        async with asyncio.timeout(120):
            while True:
                done = await pool.fetchval(
                    "SELECT count(*) FROM writer_commands WHERE command_id = ANY($1::text[])"
                    " AND state IN ('succeeded','failed','rejected')",
                    ids,
                )
                if done == len(ids):
                    break
                await asyncio.sleep(0.2)
        rows = await pool.fetch(
            "SELECT extract(epoch FROM ghl_done_at - submitted_at) AS s FROM writer_commands"
            " WHERE command_id = ANY($1::text[]) AND state = 'succeeded'",
            ids,
        )
        latencies = [float(r["s"]) for r in rows]
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await producer.stop()
        await client.aclose()
        print(f"locations {args.locations}, saturation {end - warm:.1f} s steady window")
        print(
            f"GHL answers {answered} of a budget of {budget:.0f}: busy {busy:.1%} "
            f"(commands applied in phase 1: {sat_done}); "
            f"statuses {dict(sorted(transport.status.items()))}, 429s at "
            f"{[round(t - start, 1) for t in transport.limited]} s"
        )
        print(
            f"latency phase: {len(latencies)} commands at {args.load:.0%} of the budget "
            f"({rate:.0f}/s): command-to-GHL p50 {percentile(latencies, 50) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.0f} ms"
        )
    finally:
        await admin.aclose()
        await pool.close()
        await drop_schema(url, schema)
        proc.terminate()


if __name__ == "__main__":
    asyncio.run(main())
