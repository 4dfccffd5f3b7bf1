"""Webhook receiver benchmark: signed deliveries verified and persisted with acks=all.

    .venv/bin/python bench/webhooks.py [--seconds 20] [--connections 64] [--rate 1000]

Runs against the local stack (`ghl-sync stack up`): Kafka for `ghl.raw.v1`, PostgreSQL for the
webhookId receipts (a fresh schema, dropped afterwards; a fresh topic prefix, deleted too).

1. Starts `ghl-sync webhooks` as a child process, configured through its environment, exactly
   as it is deployed (uvicorn, one process), trusting a key generated here.
2. A load generator in another process pre-signs every body (Ed25519, unique `webhookId`s,
   so every delivery takes the full path: verify, claim, produce, confirm), then drives the
   receiver over keep-alive HTTP/1.1 connections written on raw sockets (a client library
   would spend more CPU than the receiver on this 2-core machine).
3. Throughput: `--connections` closed loops for `--seconds`; accepted deliveries per second.
4. Latency: an open loop at `--rate` per second for `--seconds`, measured from each request's
   scheduled send time (so a stall cannot hide behind the requests it delayed); p50/p99/max.
5. Checks the raw topic holds a record for every 2xx.

Targets: >= 3,000 deliveries/s; p99 <= 50 ms at 1,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import create_schema, delete_topic, drop_schema, free_port
from bench._http import exchange
from streams.admin import partitions_of

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
GHL_SYNC = Path(sys.executable).with_name("ghl-sync")
PATH = "/webhooks/ghl"


# -- the load generator (its own process) -------------------------------------------------


def _requests(key: ed25519.Ed25519PrivateKey, port: int, count: int) -> list[bytes]:
    """`count` complete HTTP requests, each a fresh signed delivery."""
    now = datetime.now(UTC).isoformat()
    out: list[bytes] = []
    for n in range(count):
        body = json.dumps(
            {
                "type": "ContactUpdate",
                "locationId": f"loc{n % 20}",
                "id": f"c{n % 5000}",
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": f"ada{n % 5000}@example.com",
                "tags": ["bench"],
                "dateUpdated": now,
                "webhookId": str(uuid.uuid4()),
                "timestamp": now,
            },
            separators=(",", ":"),
        ).encode()
        signature = base64.b64encode(key.sign(body)).decode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-GHL-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _closed_loop(
    port: int, requests: list[bytes], connections: int, seconds: float
) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    it = iter(requests)
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                request = next(it, None)
                if request is None:
                    return
                statuses[await exchange(reader, writer, request)] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return {"seconds": time.perf_counter() - started, "statuses": dict(statuses)}


async def _open_loop(
    port: int, requests: list[bytes], connections: int, rate: float, seconds: float
) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    total = min(len(requests), int(rate * seconds))
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    late = 0

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                scheduled, request = await queue.get()
                status = await exchange(reader, writer, request)
                latencies.append(time.perf_counter() - scheduled)
                statuses[status] += 1
                queue.task_done()
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter() + 0.2
    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1
        queue.put_nowait((scheduled, requests[n]))
    await queue.join()
    elapsed = time.perf_counter() - start
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    latencies.sort()
    return {
        "seconds": elapsed,
        "statuses": dict(statuses),
        "latencies": latencies,
        "late_sends": late,
    }


def _load_process(private_key: bytes, port: int, args: dict[str, Any], out: Connection) -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(private_key)
    phase = args["phase"]
    if phase == "throughput":
        count = int(args["seconds"] * 8_000)
        requests = _requests(key, port, count)
        out.send("ready")
        out.recv()
        result = asyncio.run(_closed_loop(port, requests, args["connections"], args["seconds"]))
    else:
        requests = _requests(key, port, int(args["rate"] * args["seconds"]) + 1)
        out.send("ready")
        out.recv()
        result = asyncio.run(
            _open_loop(port, requests, args["connections"], args["rate"], args["seconds"])
        )
    out.send(result)


def _drive(private_key: bytes, port: int, on_start: Any = None, **args: Any) -> dict[str, Any]:
    """Run one phase in a fresh load-generator process; returns its measurements."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(
        target=_load_process, args=(private_key, port, args, theirs), daemon=True
    )
    proc.start()
    assert ours.recv() == "ready"  # bodies signed: the clock starts now
    ours.send("go")
    profiler = on_start() if on_start else None
    result: dict[str, Any] = ours.recv()
    proc.join(10)
    if profiler is not None:
        profiler.wait(30)
    return result


# -- the receiver and the stack -------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _busy_since(start: tuple[float, float]) -> float:
    busy, total = _machine_busy()
    return (busy - start[0]) / max(total - start[1], 1)


@dataclass
class _Stack:
    schema: str
    prefix: str

    @property
    def topic(self) -> str:
        return f"{self.prefix}ghl.raw.v1"


async def _setup() -> _Stack:
    run = uuid.uuid4().hex[:8]
    stack = _Stack(schema=f"bench_webhooks_{run}", prefix=f"bench-webhooks-{run}.")
    await create_schema(DATABASE_URL, stack.schema)
    return stack


async def _teardown(stack: _Stack) -> None:
    await drop_schema(DATABASE_URL, stack.schema)
    await delete_topic(BOOTSTRAP, stack.topic)


async def _records_on(topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(BOOTSTRAP, topic)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError("the receiver exited; see its log")
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


def _start_receiver(
    stack: _Stack, port: int, public_pem: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GHL_SYNC_WEBHOOKS_PORT": str(port),
        "GHL_SYNC_WEBHOOKS_ED25519_PUBLIC_KEYS": json.dumps([public_pem]),
        "GHL_SYNC_WEBHOOKS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "GHL_SYNC_WEBHOOKS_TOPIC_PREFIX": stack.prefix,
        "GHL_SYNC_WEBHOOKS_DATABASE_URL": DATABASE_URL,
        "GHL_SYNC_WEBHOOKS_DATABASE_SCHEMA": stack.schema,
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(GHL_SYNC), "webhooks"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _accept_buckets(url: str) -> dict[str, float]:
    """The receiver's own accept-latency histogram (cumulative counts by upper bound)."""
    text = httpx.get(f"{url}/metrics").text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ghl_sync_webhooks_accept_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[bound] = float(line.rsplit(" ", 1)[1])
    return out


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed rate of the latency run")
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-webhooks-receiver.log"))
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="profile the receiver's throughput phase here"
    )
    args = parser.parse_args()

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    stack = asyncio.run(_setup())
    port = free_port()
    receiver = _start_receiver(stack, port, public_pem, args.log)
    try:
        asyncio.run(_wait_ready(f"http://127.0.0.1:{port}", receiver))
        # Warm-up: connections to Kafka and PostgreSQL, the topic, the code paths.
        _drive(private, port, phase="throughput", seconds=2.0, connections=args.connections)
        cpu0, machine0 = _cpu_seconds(receiver.pid), _machine_busy()

        def profile() -> subprocess.Popen[bytes] | None:
            if args.py_spy is None:
                return None
            py_spy = Path(sys.executable).with_name("py-spy")
            command = [str(py_spy), "record", "-p", str(receiver.pid), "-d", str(int(args.seconds))]
            return subprocess.Popen(
                [*command, "-f", "raw", "-o", str(args.py_spy), "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        tp = _drive(
            private, port, profile, phase="throughput", seconds=args.seconds,
            connections=args.connections,
        )  # fmt: skip
        tp_cpu, tp_machine = _cpu_seconds(receiver.pid) - cpu0, _busy_since(machine0)
        cpu0, machine0 = _cpu_seconds(receiver.pid), _machine_busy()
        buckets0 = _accept_buckets(f"http://127.0.0.1:{port}")
        lat = _drive(
            private, port, phase="latency", seconds=args.seconds, rate=args.rate,
            connections=args.connections,
        )  # fmt: skip
        lat_cpu, lat_machine = _cpu_seconds(receiver.pid) - cpu0, _busy_since(machine0)
        buckets = _accept_buckets(f"http://127.0.0.1:{port}")
        inside = {b: buckets[b] - buckets0.get(b, 0.0) for b in buckets}
        on_topic = asyncio.run(_records_on(stack.topic))
    finally:
        receiver.terminate()
        receiver.wait(15)
        asyncio.run(_teardown(stack))

    tp_ok = sum(n for s, n in tp["statuses"].items() if 200 <= int(s) < 300)
    tp_rate = tp_ok / tp["seconds"]
    lat_ok = sum(n for s, n in lat["statuses"].items() if 200 <= int(s) < 300)
    latencies: list[float] = lat["latencies"]
    p50, p99, worst = _pct(latencies, 0.50), _pct(latencies, 0.99), latencies[-1] * 1000
    print("Webhook receiver (ghl-sync webhooks: uvicorn, Ed25519 verify, PostgreSQL replay")
    print(f"claims, Kafka acks=all), {os.cpu_count()} CPUs shared with Kafka, PostgreSQL and")
    print("the load generator")
    print(f"  throughput    {tp_rate:8.0f} accepted/s over {tp['seconds']:.1f} s, "
          f"{args.connections} connections, statuses {tp['statuses']}")  # fmt: skip
    print(f"                receiver CPU {1e3 * tp_cpu / max(tp_ok, 1):.3f} ms/delivery, "
          f"{100 * tp_cpu / tp['seconds']:.0f}% of one core; all CPUs {100 * tp_machine:.0f}% "
          "busy")  # fmt: skip
    print(f"  at {args.rate:.0f}/s       p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms "
          f"over {len(latencies)} deliveries ({lat['seconds']:.1f} s), statuses "
          f"{lat['statuses']}, late sends {lat['late_sends']}")  # fmt: skip
    print(f"                receiver CPU {100 * lat_cpu / lat['seconds']:.0f}% of one core; "
          f"all CPUs {100 * lat_machine:.0f}% busy")  # fmt: skip
    shares = ", ".join(
        f"<= {1000 * float(b):.0f} ms {100 * inside[b] / max(inside['+Inf'], 1):.1f}%"
        for b in ("0.01", "0.025", "0.05")
    )
    print(f"                inside the receiver (request read to 2xx): {shares}")
    accepted = tp_ok + lat_ok
    print(f"  raw topic     {on_topic} records for {accepted} 2xx (+ warm-up)")
    met_tp, met_lat = tp_rate >= 3000, p99 <= 50
    print(f"  target >= 3,000/s: {'MET' if met_tp else 'NOT MET'}; "
          f"p99 <= 50 ms at 1,000/s: {'MET' if met_lat else 'NOT MET'}")  # fmt: skip
    if on_topic < accepted:
        print("  ERROR: fewer records on the raw topic than 2xx answers")
        sys.exit(2)
    if not (met_tp and met_lat):
        sys.exit(1)


if __name__ == "__main__":
    main()
