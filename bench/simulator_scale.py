"""The GHL simulator at real sizes: seeding 50,000 contacts, and a bulk tag add on 10,000
contacts whose 10,000 webhooks reach a local receiver while the API keeps answering.

    .venv/bin/python bench/simulator_scale.py [--runs 3] [--contacts 50000] [--bulk 10000]

Seeding runs in a fresh process each time. The bulk run serves the simulator with uvicorn in
one process, a minimal keep-alive webhook receiver in another, and from this process sends the
bulk request, then probes `GET /contacts/{id}` one request at a time (raw keep-alive HTTP, so
the client does not measure itself) until the simulator reports every webhook delivered.
Reported per run: the bulk request's own time, the time until the last webhook was delivered,
and the probe latencies (p50, p99, max) during that time. Median of the runs, with the load
average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import free_port, percentile, wait_http
from bench._http import exchange, read_message


def _seed_once(contacts: int, out: Any) -> None:
    from services.simulator import seed_state

    started = time.perf_counter()
    seed_state(seed=1, locations=1, contacts_per_location=contacts)
    out.put(time.perf_counter() - started)


def seed_seconds(contacts: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_seed_once, args=(contacts, out))
    proc.start()
    value = float(out.get(timeout=300))
    proc.join()
    return value


def _receiver(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_message(reader)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _simulator(port: int, contacts: int, hook: str) -> None:
    import uvicorn

    from services.simulator import SimulatorSettings, create_app

    settings = SimulatorSettings(
        seed=3,
        locations=1,
        contacts_per_location=contacts,
        rate_limit_max=10**9,
        webhook_urls=(hook,),
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="error")


async def bulk_run(contacts: int, bulk: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    hook_port, sim_port = free_port(), free_port()
    receiver = ctx.Process(target=_receiver, args=(hook_port,), daemon=True)
    receiver.start()
    sim = ctx.Process(
        target=_simulator,
        args=(sim_port, contacts, f"http://127.0.0.1:{hook_port}/hooks"),
        daemon=True,
    )
    sim.start()
    base = f"http://127.0.0.1:{sim_port}"
    try:
        wait_http(base + "/_admin/faults", timeout=120)
        async with httpx.AsyncClient(base_url=base, timeout=120) as admin:
            state = (await admin.get("/_admin/state")).json()["locations"]
            [(loc, data)] = state.items()
            ids = [c["id"] for c in data["contacts"]][:bulk]
            token = (await admin.post("/_admin/tokens", json={"locationId": loc})).json()
            auth = {"Authorization": f"Bearer {token['access_token']}", "Version": "2021-07-28"}
            probe = (
                f"GET /contacts/{ids[-1]} HTTP/1.1\r\nHost: 127.0.0.1:{sim_port}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in auth.items())
                + "\r\n"
            ).encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", sim_port)
            started_wall = time.time()
            started = time.perf_counter()
            request = asyncio.create_task(
                admin.post(
                    "/contacts/bulk/tags/update/add",
                    json={"locationId": loc, "contacts": ids, "tags": ["bench-wave"]},
                    headers=auth,
                )
            )
            latencies: list[float] = []
            bulk_seconds = None
            stats: dict[str, Any] = {}
            while True:
                sent = time.perf_counter()
                status = await exchange(reader, writer, probe)
                latencies.append(time.perf_counter() - sent)
                if status != 200:
                    raise RuntimeError(f"probe answered {status}")
                if bulk_seconds is None and request.done():
                    answer = request.result()
                    if answer.status_code != 201:
                        raise RuntimeError(answer.text)
                    bulk_seconds = time.perf_counter() - started
                if len(latencies) % 20 == 0:
                    page = (await admin.get("/_admin/webhooks", params={"limit": 0})).json()
                    stats = page["stats"]
                    if bulk_seconds is not None and stats["delivered"] >= bulk:
                        break
            writer.close()
            last = datetime.fromisoformat(stats["lastDeliveredAt"].replace("Z", "+00:00"))
            return {
                "bulk_request_s": float(bulk_seconds or 0.0),
                "all_delivered_s": last.timestamp() - started_wall,
                "probes": float(len(latencies)),
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "max_ms": max(latencies) * 1000,
                "failed": float(stats["failed"] + stats["dropped"]),
            }
    finally:
        for proc in (sim, receiver):
            proc.terminate()
            proc.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--bulk", type=int, default=10_000)
    args = parser.parse_args()
    seeds = []
    for run in range(args.runs):
        seconds = seed_seconds(args.contacts)
        seeds.append(seconds)
        load = Path("/proc/loadavg").read_text().strip()
        print(f"seed {args.contacts} contacts run {run + 1}: {seconds:.2f} s  (loadavg {load})")
    print(f"seed median: {statistics.median(seeds):.2f} s")
    runs = []
    for run in range(args.runs):
        result = asyncio.run(bulk_run(args.bulk, args.bulk))
        runs.append(result)
        load = Path("/proc/loadavg").read_text().strip()
        print(
            f"bulk run {run + 1}: {json.dumps({k: round(v, 2) for k, v in result.items()})}"
            f"  (loadavg {load})"
        )
    for key in runs[0]:
        print(f"bulk median {key}: {statistics.median(r[key] for r in runs):.2f}")
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
