"""Two poller processes share the locations through leases; after one is SIGKILLed the other
polls every location, and no location is ever polled by both at once. Real PostgreSQL and
Kafka; each process talks to its own in-process simulator seeded alike (same ids)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.poller import register_location
from services.simulator import SimulatorSettings, create_app
from streams.admin import ensure_topics

pytestmark = pytest.mark.integration

SEED, LOCATIONS, LEASE = 21, 8, 2.0

# One poller instance: prints a JSON line per finished cycle (monotonic times are
# system-wide on Linux, so the two processes' intervals compare).
_INSTANCE = """
import asyncio, json, os, sys, time
import asyncpg, httpx
from pydantic import SecretStr
from services.ghl import GhlSettings, InMemoryRateLimiter, StaticTokenProvider, build_client
from services.poller import EventSink, Poller, PollerSettings, PollerStore
from services.simulator import SimulatorSettings, create_app

async def main():
    env = os.environ
    sim = httpx.ASGITransport(app=create_app(SimulatorSettings(
        seed=int(env["SEED"]), locations=int(env["LOCATIONS"]), contacts_per_location=4,
        rate_limit_max=10**6)))
    async with httpx.AsyncClient(transport=sim, base_url="http://sim") as admin:
        state = (await admin.get("/_admin/state")).json()["locations"]
        tokens = {}
        for loc in state:
            minted = (await admin.post("/_admin/tokens", json={"locationId": loc})).json()
            tokens[loc] = SecretStr(minted["access_token"])
    ghl = GhlSettings(base_url="http://sim", rate_limit_requests=100_000, rate_limit_interval=1.0)
    client = build_client(ghl, token_provider=StaticTokenProvider(tokens),
                          rate_limiter=InMemoryRateLimiter.from_settings(ghl), transport=sim)
    pool = await asyncpg.create_pool(
        env["PG_URL"], server_settings={"search_path": env["PG_SCHEMA"]})
    settings = PollerSettings(instance_id=env["INSTANCE"], lease_seconds=float(env["LEASE"]),
                              cycle_seconds=0.2, flush_seconds=0.2)
    sink = EventSink(env["KAFKA"], env["TOPIC"])
    await sink.start()

    def on_cycle(loc, started, ended, report):
        print(json.dumps({"loc": loc, "start": started, "end": ended}), flush=True)

    print(json.dumps({"ready": time.monotonic()}), flush=True)
    await Poller(client, PollerStore(pool), sink, settings, pool=pool,
                 on_cycle=on_cycle).run_forever()

asyncio.run(main())
"""


@dataclass
class _Instance:
    name: str
    process: asyncio.subprocess.Process
    errors: Path
    cycles: list[dict[str, Any]] = field(default_factory=list)
    ready: float | None = None
    other: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            try:
                record = json.loads(line)
            except ValueError:  # not one of ours (a library's print): shown on failure
                self.other.append(line.decode(errors="replace").rstrip())
                continue
            if "loc" in record:
                self.cycles.append(record)
            elif "ready" in record:
                self.ready = record["ready"]

    def describe(self) -> str:
        """What this instance did so far, for a failing wait's message."""
        tail = self.errors.read_text(errors="replace")[-3000:] if self.errors.exists() else ""
        return (
            f"instance {self.name}: exit {self.process.returncode}, ready {self.ready is not None},"
            f" {len(self.cycles)} cycles of {sorted({c['loc'] for c in self.cycles})};"
            f" other output {self.other[-5:]}; its stderr ends:\n{tail}"
        )


@pytest.fixture
async def locations(pg: asyncpg.Connection) -> list[str]:
    sim = httpx.ASGITransport(
        app=create_app(SimulatorSettings(seed=SEED, locations=LOCATIONS, contacts_per_location=4))
    )
    async with httpx.AsyncClient(transport=sim, base_url="http://sim") as admin:
        state = (await admin.get("/_admin/state")).json()["locations"]
    for location_id in state:
        await register_location(pg, location_id)
    return sorted(state)


async def _start(name: str, env: dict[str, str], folder: Path) -> _Instance:
    errors = folder / f"{name}.stderr"
    with errors.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _INSTANCE, env={**env, "INSTANCE": name},
            stdout=asyncio.subprocess.PIPE, stderr=sink,
        )  # fmt: skip
    instance = _Instance(name, process, errors)
    instance.reader = asyncio.create_task(instance.read())
    return instance


async def _until(
    what: str, check: Callable[[], Awaitable[bool]], seconds: float, *instances: _Instance
) -> None:
    """Wait for `check`; on timeout fail with `what` and every instance's state and stderr."""
    deadline = time.monotonic() + seconds
    while not await check():  # watches the processes' output and PG: no event to wait on
        exited = [i for i in instances if i.process.returncode is not None]
        if exited or time.monotonic() > deadline:
            reason = "an instance exited" if exited else f"not within {seconds:.0f}s"
            details = "\n".join(i.describe() for i in instances)
            pytest.fail(f"waiting for {what}: {reason}\n{details}")
        await asyncio.sleep(0.1)


def _overlaps(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[tuple[str, float]]:
    found = []
    for x in a:
        for y in b:
            if x["loc"] == y["loc"] and x["start"] < y["end"] and y["start"] < x["end"]:
                found.append((x["loc"], x["start"]))
    return found


async def test_a_killed_instances_locations_are_taken_over_and_never_polled_twice(
    locations: list[str],
    pg: asyncpg.Connection,
    pg_schema: str,
    test_settings: Any,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    topic = f"test-{uuid.uuid4().hex[:10]}.ghl.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    env = {
        "PATH": os.environ.get("PATH", ""), "SEED": str(SEED), "LOCATIONS": str(LOCATIONS),
        "PG_URL": test_settings.database_url, "PG_SCHEMA": pg_schema, "KAFKA": kafka_bootstrap,
        "TOPIC": topic, "LEASE": str(LEASE),
    }  # fmt: skip
    a = await _start("a", env, tmp_path)
    b = await _start("b", env, tmp_path)
    try:
        # Both instances at work, the locations split between them.
        async def shared() -> bool:
            return (
                {c["loc"] for c in a.cycles} | {c["loc"] for c in b.cycles} == set(locations)
                and bool(a.cycles)
                and bool(b.cycles)
            )

        await _until("both instances at work", shared, 180, a, b)  # slow on a loaded machine

        async def balanced() -> bool:
            rows = await pg.fetch("SELECT holder, count(*) AS n FROM poller_leases GROUP BY 1")
            return {r["holder"]: r["n"] for r in rows} == {"a": LOCATIONS // 2, "b": LOCATIONS // 2}

        await _until("an even split of the leases", balanced, 120, a, b)
        a_held = {r["location_id"] for r in await pg.fetch(
            "SELECT location_id FROM poller_leases WHERE holder = 'a'")}  # fmt: skip

        a.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await a.process.wait()

        async def taken_over() -> bool:
            after = {c["loc"] for c in b.cycles if c["start"] > killed}
            return after == set(locations)

        await _until("b polling every location", taken_over, 60, b)
        first = {
            loc: min(c["start"] for c in b.cycles if c["loc"] == loc and c["start"] > killed)
            for loc in a_held
        }
        last_a = max(c["end"] for c in a.cycles)
    finally:
        for instance in (a, b):
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGKILL)
                await instance.process.wait()
            if instance.reader is not None:
                await asyncio.gather(instance.reader, return_exceptions=True)

    # Never polled by both at once, and b's takeover of a's locations started after a's
    # last cycle ended.
    assert _overlaps(a.cycles, b.cycles) == []
    assert min(first.values()) > last_a
    rows = await pg.fetch("SELECT DISTINCT holder FROM poller_leases")
    assert [r["holder"] for r in rows] == ["b"]
