"""Poller scale benchmark: 1,000 locations x 10 contacts on one machine, then two instances.

    .venv/bin/python bench/poller_scale.py [--locations 1000] [--contacts 10] [--runs 1]
        [--database-url postgresql://ghl_sync@127.0.0.1:55499/ghl_sync]

Needs Kafka (a fresh topic, deleted afterwards) and a PostgreSQL (a fresh schema, dropped
afterwards). PostgreSQL commits are read from `pg_stat_database`, which counts every session
of the database: point `--database-url` at a database nobody else uses (a private server)
or the figure includes other people's commits.

Each run:

1. starts the GHL simulator as its own uvicorn process (`--locations` x `--contacts`, GHL's
   100 requests per 10 s per location), mints a token per location and registers every
   location (`register_location`);
2. onboarding: one poller instance (its own process, `PostgresRateLimiter`, real Kafka) with
   a long cycle, so each location gets its backfill and exactly one poll cycle: GHL requests
   per contact (from `ghl_request_counts`), wall time;
3. steady state, one instance, `--cycle` seconds: first with 10% of the locations, then with
   all of them; poll-cycle time per location (p50/p95), the gap between a location's cycle
   starts, CPU per GHL request (the instance's rusage), PostgreSQL commits per GHL request;
4. two instances: each one's share of the requests, whether any location was polled by both
   at once (cycle intervals of the two processes compared on the system-wide monotonic clock);
5. SIGKILL of one: how long until the other has polled every location, against the lease
   period.

Every figure is printed with the load average; run it 3 times (`--runs 3`) for medians.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import httpx

from bench._common import delete_topic, simulator_tokens, start_simulator

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- one poller instance (run as `poller_scale.py --instance NAME`) ---------------------


class _Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0
        self.waited = 0.0
        """Seconds from sending to the answer's headers, summed (GHL's latency)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        sent = time.monotonic()
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.waited += time.monotonic() - sent

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _instance(name: str) -> None:
    from pydantic import SecretStr

    from services.ghl import GhlSettings, PostgresRateLimiter, StaticTokenProvider, build_client
    from services.poller import EventSink, Poller, PollerSettings, PollerStore
    from services.poller._store import reset_if_dirty

    env = os.environ
    raw = await asyncio.to_thread(Path(env["TOKENS"]).read_text)
    tokens = {k: SecretStr(v) for k, v in json.loads(raw).items()}
    pool = await asyncpg.create_pool(
        env["PG_URL"], min_size=2, max_size=16,
        server_settings={"search_path": env["PG_SCHEMA"]}, reset=reset_if_dirty,
    )  # fmt: skip
    ghl = GhlSettings(base_url=env["SIM_URL"])
    transport = _Counting(httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200)))
    client = build_client(
        ghl, token_provider=StaticTokenProvider(tokens),
        rate_limiter=PostgresRateLimiter(pool, ghl), transport=transport,
    )  # fmt: skip
    only = tuple(json.loads(env.get("ONLY", "[]")))
    settings = PollerSettings(
        instance_id=name, locations=only, cycle_seconds=float(env["CYCLE"]),
        lease_seconds=float(env["LEASE"]), max_backfills=int(env["BACKFILLS"]),
    )  # fmt: skip
    sink = EventSink(BOOTSTRAP, env["TOPIC"])
    await sink.start()
    out = sys.stdout

    def on_cycle(loc: str, started: float, ended: float, report: Any) -> None:
        out.write(json.dumps({"loc": loc, "start": started, "end": ended}) + "\n")

    async def meter() -> None:
        while True:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            out.write(json.dumps({"t": time.monotonic(), "requests": transport.requests,
                                  "cpu": usage.ru_utime + usage.ru_stime,
                                  "waited": transport.waited}) + "\n")  # fmt: skip
            out.flush()
            await asyncio.sleep(1.0)

    metering = asyncio.create_task(meter())
    poller = Poller(client, PollerStore(pool), sink, settings, pool=pool, on_cycle=on_cycle)
    try:
        await poller.run_forever()
    finally:
        metering.cancel()


# --- the orchestration ---------------------------------------------------------------


class _Proc:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name, self.env = name, env
        self.cycles: list[dict[str, float | str]] = []
        self.meters: list[dict[str, float]] = []
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE), "--instance", self.name,
            env={**os.environ, **self.env}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=2**20, cwd=str(ROOT),
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            record = json.loads(line)
            (self.cycles if "loc" in record else self.meters).append(record)

    def meter_at(self, t: float) -> dict[str, float]:
        before = [m for m in self.meters if m["t"] <= t]
        return before[-1] if before else {"t": t, "requests": 0, "cpu": 0.0, "waited": 0.0}

    async def stop(self, sig: int = signal.SIGINT) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


async def _commits(pg: asyncpg.Connection) -> int:
    await pg.execute("SELECT pg_stat_clear_snapshot()")
    value: int = await pg.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    return value


async def _requests(pg: asyncpg.Connection) -> dict[str, int]:
    rows = await pg.fetch(
        "SELECT request_class, sum(requests)::bigint AS n FROM ghl_request_counts GROUP BY 1"
    )
    return {r["request_class"]: r["n"] for r in rows}


async def _wait(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def _steady(
    pg: asyncpg.Connection, proc: _Proc, window: float, locations: int
) -> dict[str, Any]:
    """Measure one running instance over `window` seconds."""
    await asyncio.sleep(3)  # stats of the previous phase flushed
    c0, t0 = await _commits(pg), time.monotonic()
    m0 = proc.meter_at(t0)
    g0 = sum((await _requests(pg)).values())
    await asyncio.sleep(window)
    t1 = time.monotonic()
    await asyncio.sleep(1.5)  # let the backends report their last commits
    c1, g1 = await _commits(pg), sum((await _requests(pg)).values())
    m1 = proc.meter_at(t1)
    cycles = [c for c in proc.cycles if t0 <= float(c["start"]) and float(c["end"]) <= t1]
    durations = [float(c["end"]) - float(c["start"]) for c in cycles]
    starts: dict[str, list[float]] = {}
    for c in cycles:
        starts.setdefault(str(c["loc"]), []).append(float(c["start"]))
    gaps = [b - a for s in starts.values() for a, b in itertools.pairwise(s)]
    requests = m1["requests"] - m0["requests"]
    return {
        "locations": locations, "cycles": len(cycles), "polled": len(starts),
        "p50": _pct(durations, 0.5), "p95": _pct(durations, 0.95),
        "gap_p50": _pct(gaps, 0.5), "gap_max": max(gaps, default=float("nan")),
        "requests": requests,
        "cpu_ms_per_request": 1000 * (m1["cpu"] - m0["cpu"]) / max(requests, 1),
        "ghl_latency_ms": 1000 * (m1["waited"] - m0["waited"]) / max(requests, 1),
        "commits_per_request": (c1 - c0) / max(g1 - g0, 1), "ghl": g1 - g0, "commits": c1 - c0,
        "load": _load(),
    }  # fmt: skip


def _overlaps(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    by_loc: dict[str, list[tuple[float, float]]] = {}
    for c in a:
        by_loc.setdefault(c["loc"], []).append((c["start"], c["end"]))
    found = 0
    for c in b:
        for start, end in by_loc.get(c["loc"], ()):
            if start < c["end"] and c["start"] < end:
                found += 1
    return found


async def run_once(args: argparse.Namespace) -> dict[str, Any]:
    from services.db.migrate import apply_migrations
    from services.poller import register_location
    from streams.admin import ensure_topics

    sim, sim_url = start_simulator(args.locations, args.contacts, seed=31)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    topic = f"bench-{uuid.uuid4().hex[:10]}.ghl.events.v1"
    await ensure_topics(BOOTSTRAP, [topic], partitions=6)
    pg = await asyncpg.connect(args.database_url)
    await apply_migrations(pg, schema=schema)
    await pg.execute(f"SET search_path TO {schema}")
    procs: list[_Proc] = []
    result: dict[str, Any] = {}
    try:
        state, tokens = await simulator_tokens(sim_url, within=120, http_timeout=120)
        token_file = Path(f"/tmp/{schema}.tokens.json")
        await asyncio.to_thread(token_file.write_text, json.dumps(tokens))
        locations = sorted(state)
        contacts = sum(len(v["contacts"]) for v in state.values())
        for loc in locations:
            await register_location(pg, loc, reason="bench")
        env = {
            "TOKENS": str(token_file), "PG_URL": args.database_url, "PG_SCHEMA": schema,
            "SIM_URL": sim_url, "TOPIC": topic, "LEASE": str(args.lease),
            "BACKFILLS": str(args.backfills),
        }  # fmt: skip

        # 2. onboarding: backfill + exactly one poll cycle per location
        a = _Proc("a", {**env, "CYCLE": "100000"})
        procs.append(a)
        started = time.monotonic()
        c0 = await _commits(pg)
        await a.start()

        async def onboarded() -> bool:
            return len({c["loc"] for c in a.cycles}) == len(locations)

        await _wait(onboarded, 3600, "onboarding")
        onboard_wall = time.monotonic() - started
        await asyncio.sleep(2)
        spent = await _requests(pg)
        c1 = await _commits(pg)
        result["onboarding"] = {
            "wall": onboard_wall, "requests": spent, "per_contact": sum(spent.values()) / contacts,
            "commits_per_request": (c1 - c0) / max(sum(spent.values()), 1), "load": _load(),
        }  # fmt: skip
        print("onboarding", json.dumps(result["onboarding"]), flush=True)
        await a.stop()
        if args.onboarding_only:
            return result

        # 3. steady state, one instance: 10% of the locations, then all
        few = locations[: max(1, len(locations) // 10)]
        a = _Proc("a", {**env, "CYCLE": str(args.cycle), "ONLY": json.dumps(few)})
        procs.append(a)
        await a.start()
        await asyncio.sleep(args.cycle + 5)
        result["steady_few"] = await _steady(pg, a, args.window, len(few))
        print("steady_few", json.dumps(result["steady_few"]), flush=True)
        await a.stop()
        a = _Proc("a", {**env, "CYCLE": str(args.cycle)})
        procs.append(a)
        await a.start()
        await asyncio.sleep(args.cycle + 10)
        result["steady_all"] = await _steady(pg, a, args.window, len(locations))
        print("steady_all", json.dumps(result["steady_all"]), flush=True)

        # 4. two instances
        b = _Proc("b", {**env, "CYCLE": str(args.cycle)})
        procs.append(b)
        await b.start()
        half = len(locations) // 2

        async def balanced() -> bool:
            rows = await pg.fetch("SELECT holder, count(*) AS n FROM poller_leases GROUP BY 1")
            held = {r["holder"]: r["n"] for r in rows}
            return abs(held.get("a", 0) - half) <= 1 and abs(held.get("b", 0) - half) <= 1

        await _wait(balanced, 300, "two balanced instances")
        await asyncio.sleep(args.cycle + 2)
        t0 = time.monotonic()
        ma0, mb0 = a.meter_at(t0), b.meter_at(t0)
        await asyncio.sleep(args.window)
        t1 = time.monotonic()
        ma1, mb1 = a.meter_at(t1), b.meter_at(t1)
        in_window = [[c for c in p.cycles if t0 <= float(c["start"]) <= t1] for p in (a, b)]
        ra, rb = ma1["requests"] - ma0["requests"], mb1["requests"] - mb0["requests"]
        both = {c["loc"] for c in in_window[0]} & {c["loc"] for c in in_window[1]}
        result["two"] = {
            "a_requests": ra, "b_requests": rb, "a_share": ra / max(ra + rb, 1),
            "overlaps": _overlaps(a.cycles, b.cycles), "polled_by_both_in_window": len(both),
            "polled": len({c["loc"] for w in in_window for c in w}), "load": _load(),
        }  # fmt: skip
        print("two", json.dumps(result["two"]), flush=True)

        # 5. SIGKILL one
        a_held = {
            r["location_id"]
            for r in await pg.fetch("SELECT location_id FROM poller_leases WHERE holder = 'a'")
        }
        assert a.process is not None
        a.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await a.process.wait()

        async def taken_over() -> bool:
            after = {c["loc"] for c in b.cycles if float(c["start"]) > killed}
            return a_held <= after

        async def holds_all() -> bool:
            rows = await pg.fetch("SELECT DISTINCT holder FROM poller_leases")
            return [r["holder"] for r in rows] == ["b"] and await pg.fetchval(
                "SELECT count(*) FROM poller_leases"
            ) == len(locations)

        await _wait(holds_all, 600, "the survivor holding every lease")
        held_all = time.monotonic() - killed
        await _wait(taken_over, 600, "takeover")
        first = [
            min(
                float(c["start"])
                for c in b.cycles
                if c["loc"] == loc and float(c["start"]) > killed
            )
            for loc in a_held
        ]
        result["takeover"] = {
            "seconds_to_hold_all": held_all,
            "seconds_to_poll_all": max(first) - killed, "seconds_to_first": min(first) - killed,
            "lease": args.lease, "overlaps": _overlaps(a.cycles, b.cycles), "load": _load(),
        }  # fmt: skip
        print("takeover", json.dumps(result["takeover"]), flush=True)
        await asyncio.to_thread(token_file.unlink)
    finally:
        for p in procs:
            await p.stop()
        sim.terminate()
        sim.join(10)
        await pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pg.close()
        await delete_topic(BOOTSTRAP, topic)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--locations", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=10)
    parser.add_argument("--cycle", type=float, default=10.0, help="poll cycle in steady state")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--backfills", type=int, default=64)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--onboarding-only", action="store_true", help="stop after step 2")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync"),
    )
    args = parser.parse_args()
    if args.instance:
        asyncio.run(_instance(args.instance))
        return
    results = [asyncio.run(run_once(args)) for _ in range(args.runs)]
    if len(results) > 1:
        print("runs", json.dumps(results), flush=True)
        for phase in [p for p in ("onboarding", "steady_few", "steady_all", "two", "takeover")
                      if p in results[0]]:  # fmt: skip
            keys = [k for k, v in results[0][phase].items() if isinstance(v, (int, float))]
            medians = {k: statistics.median(r[phase][k] for r in results) for k in keys}
            print("median", phase, json.dumps(medians), flush=True)


if __name__ == "__main__":
    main()
