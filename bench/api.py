"""Command API benchmark: commands accepted per second (each 202 only after Kafka's acks=all
and the command's row in PostgreSQL).

The API runs as `ghl-sync api` would (uvicorn, `--workers` processes) on a fresh topic prefix
and schema of the local stack; load comes from `--clients` processes, each keeping
`--concurrency` requests in flight over keep-alive connections with a minimal HTTP client
(`bench/_http.py`): a full Python HTTP client costs more CPU per request than the API.

    .venv/bin/python bench/api.py --workers 2 --clients 1 --concurrency 64   # as reported
    .venv/bin/python bench/api.py                          # 4 workers, 4 clients, 10 s
    .venv/bin/python bench/api.py --workers 8 --clients 6 --seconds 20
    .venv/bin/python bench/api.py --batch 100 --concurrency 8   # POST /v1/commands/batch

Target: >= 2,000 commands/s accepted, no command lost (every 202 is on the topic).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import drop_schema, free_port, fresh_schema, percentile, wait_http
from bench._http import exchange, post
from streams.admin import ensure_topics
from tests.factories.streams import end_offsets

KEY = "bench-" + uuid.uuid4().hex


def _body(client: int, n: int) -> bytes:
    return json.dumps(
        {
            "command_id": f"api-{client}-{n}-{uuid.uuid4().hex[:6]}",
            "command_type": "task.create",
            "location_id": f"loc{n % 10}",
            "contact_id": f"c{client}-{n % 500}",
            "payload": {"title": f"Call {n}", "dueDate": "2026-05-01T10:00:00Z"},
        }
    ).encode()


async def _load(
    url: str, key: str, client: int, seconds: float, concurrency: int, batch: int = 1
) -> dict[str, object]:
    accepted = 0
    other: dict[int, int] = {}
    latencies: list[float] = []
    port = int(url.rsplit(":", 1)[1])
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    def request() -> bytes:
        if batch == 1:
            return post(port, "/v1/commands", _body(client, next(counter)), headers)
        items = b",".join(_body(client, next(counter)) for _ in range(batch))
        return post(port, "/v1/commands/batch", b'{"commands":[' + items + b"]}", headers)

    async def worker() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                began = time.monotonic()
                status = await exchange(reader, writer, request())
                if status == 202:
                    accepted += batch
                    latencies.append(time.monotonic() - began)
                else:
                    other[status] = other.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"accepted": accepted, "other": other, "latencies": latencies}


def _client_process(
    url: str, key: str, client: int, seconds: float, concurrency: int, batch: int, out: object
) -> None:
    result = asyncio.run(_load(url, key, client, seconds, concurrency, batch))
    out.put(result)  # type: ignore[attr-defined]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64, help="per client process")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--batch", type=int, default=1, help="commands per request (>1: POST /v1/commands/batch)"
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()

    url, schema = await fresh_schema()
    prefix = f"bench-api-{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}appname.commands.v1"
    await ensure_topics(args.bootstrap, [topic], partitions=6)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")},
        "GHL_SYNC_API_API_KEYS": json.dumps([KEY]),
        "GHL_SYNC_API_TOPIC_PREFIX": prefix,
        "GHL_SYNC_API_KAFKA_BOOTSTRAP_SERVERS": args.bootstrap,
        "GHL_SYNC_API_DATABASE_URL": url,
        "GHL_SYNC_API_DATABASE_SCHEMA": schema,
    }
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, before the measurement)
        [
            sys.executable, "-m", "uvicorn", "services.api._factory:app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
            "--log-level", "warning", "--no-access-log",
        ],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz")
        await asyncio.to_thread(
            lambda: asyncio.run(_load(base, KEY, 999, 2.0, 16))  # warm every worker up
        )
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        procs = [
            ctx.Process(
                target=_client_process,
                args=(base, KEY, i, args.seconds, args.concurrency, args.batch, queue),
            )
            for i in range(args.clients)
        ]
        before = await end_offsets(args.bootstrap, topic, 6)
        started = time.monotonic()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        elapsed = time.monotonic() - started
        for p in procs:
            p.join()
        accepted = sum(int(r["accepted"]) for r in results)  # type: ignore[call-overload]
        latencies = [x for r in results for x in r["latencies"]]  # type: ignore[attr-defined]
        other: dict[int, int] = {}
        for r in results:
            for status, count in r["other"].items():  # type: ignore[attr-defined]
                other[status] = other.get(status, 0) + count
        on_topic = await end_offsets(args.bootstrap, topic, 6) - before
        print(
            f"{accepted} commands accepted in {elapsed:.1f} s: {accepted / elapsed:,.0f}/s "
            f"({args.workers} API workers, {args.clients}x{args.concurrency} requests in flight, "
            f"{args.batch} per request); "
            f"other answers {other}"
        )
        print(
            f"202 latency p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.1f} ms; on the topic: {on_topic} "
            f"({'all accepted' if on_topic >= accepted else 'MISSING'})"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
        await drop_schema(url, schema)


if __name__ == "__main__":
    asyncio.run(main())
