"""Agency benchmark: one consent onboards an agency of N locations x M contacts.

    .venv/bin/python bench/agency.py [--locations 500] [--contacts 20] [--runs 3]

Runs against the local stack (`ghl-sync stack up`): a fresh PostgreSQL schema and topic
prefix per run (dropped / left unused afterwards).

1. Starts the GHL simulator (`ghl-sync simulator`, its own process) with N locations of M
   contacts, and one `ghl-sync poller` process (its real onboarding path: a registered
   location is backfilled first, then polled; `GHL_SYNC_POLLER_MAX_BACKFILLS` raised to 64 so
   500 backfills do not queue four at a time).
2. The consent: the code exchange answers with a Company token; `store_grant` (what `ghl-sync
   auth` runs) stores it, reads installedLocations (pages of 20) and mints every location's
   token (`POST /oauth/locationToken`), each on the company's rate budget (the shared
   PostgreSQL ledger, keyed by company id), and registers each location with the poller.
3. Waits until every location's backfill has finished and the poller has polled it after the
   backfill (an `incremental_poll` request of the location in the shared ledger,
   `ghl_request_counts`, where every request is counted before it is sent).

Reported: the wall time from the consent to the last location backfilled and polled, the
company calls (locationToken, installedLocations pages; the most in any 10 s window, against
GHL's 100), manual steps (0: nothing but the consent), and the 429s the poller got (its
`ghl_sync_ghl_rate_limited` counter): no location over its budget means 0.

The consent is the simulator's agency consent page approving all of the company's locations
and future ones (`companyId=...&approveAllLocations=true&installToFutureLocations=true`); the
company calls are counted from the company's row of the shared ledger (`ghl_request_counts`,
every call booked there before it is sent) and checked against the simulator's own count of
company calls when it exposes one. The company's burst budget is 100 per 10 s: ~500 mints
take at least ~50 s whatever the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import create_schema, drop_schema, free_port
from services.db.settings import DatabaseSettings
from services.demo._processes import start_service
from services.ghl import GhlSettings, OAuthClient, generate_key
from services.ghl.cli import store_grant
from services.installs import InstallSettings
from services.platform.supervise import Supervisor

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
CLIENT_ID = "ghl-sync-simulator"
CLIENT_SECRET = "simulator-client-secret"  # the simulator's published demo app secret
COMPANY = "SimCompany0000000001"
# What an agency install asks for: the data scopes and oauth.readonly / oauth.write.
SCOPES = "oauth.readonly oauth.write locations.readonly " + GhlSettings().scopes


def _say(text: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def _loadavg() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


async def _rate_limited(metrics_url: str) -> float:
    async with httpx.AsyncClient(timeout=5.0) as http:
        text = (await http.get(metrics_url)).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ghl_sync_ghl_rate_limited_total")
    )


async def _progress(pool: asyncpg.Pool) -> tuple[int, int]:
    # Polled: the poller booked an incremental poll of the location after its backfill (every
    # request is counted under its class in the shared ledger before it is sent).
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE b.finished_at IS NOT NULL) AS backfilled,"
        " count(*) FILTER (WHERE b.finished_at IS NOT NULL AND EXISTS (SELECT 1 FROM"
        "  ghl_request_counts c WHERE c.location_id = b.location_id"
        "  AND c.request_class = 'incremental_poll' AND c.requests > 0)) AS polled"
        " FROM backfill_progress b"
    )
    assert row is not None
    return int(row["backfilled"]), int(row["polled"])


async def one_run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    schema, prefix = f"bench_agency_{tag}", f"bench-agency-{tag}."
    sim_port, poller_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    key = generate_key()
    log_dir = Path("/tmp/ghl-sync-bench-agency") / tag
    env = {
        "GHL_SYNC_GHL_BASE_URL": sim_url,
        "GHL_SYNC_GHL_AUTHORIZE_URL": f"{sim_url}/v2/oauth/chooselocation",
        "GHL_SYNC_GHL_SCOPES": SCOPES,
        "GHL_SYNC_GHL_CLIENT_ID": CLIENT_ID,
        "GHL_SYNC_GHL_CLIENT_SECRET": CLIENT_SECRET,
        "GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY": key,
        "GHL_SYNC_POLLER_DATABASE_URL": DATABASE_URL,
        "GHL_SYNC_POLLER_DATABASE_SCHEMA": schema,
        "GHL_SYNC_POLLER_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "GHL_SYNC_POLLER_TOPIC_PREFIX": prefix,
        "GHL_SYNC_POLLER_MAX_BACKFILLS": str(args.max_backfills),
        "GHL_SYNC_POLLER_CYCLE_SECONDS": "5",
        "GHL_SYNC_POLLER_INSTANCE_ID": f"bench-{tag}",
    }
    await create_schema(DATABASE_URL, schema)
    # The simulator and the poller run as the demo runs its services: under the supervisor
    # of `ghl-sync run`, each logged to its own file in `log_dir`.
    supervisor = Supervisor([])
    pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    try:
        simulator = await start_service(
            supervisor, "simulator",
            ["simulator", "--port", str(sim_port), "--seed", str(seed), "--locations",
             str(args.locations), "--contacts", str(args.contacts)],
            env, log_dir,
        )  # fmt: skip
        await simulator.wait_http(f"{sim_url}/_admin/state", within=300)
        _say("simulator up")
        async with httpx.AsyncClient(base_url=sim_url, timeout=60) as http:
            state = (await http.get("/_admin/state")).json()
        locations = sorted(state["locations"])
        assert len(locations) == args.locations, len(locations)
        poller = await start_service(
            supervisor, "poller", ["poller", "--metrics-port", str(poller_port)], env, log_dir
        )
        await poller.wait_http(f"http://127.0.0.1:{poller_port}/readyz", within=120)
        _say("poller ready")
        ghl = GhlSettings(
            base_url=sim_url,
            authorize_url=f"{sim_url}/v2/oauth/chooselocation",
            redirect_uri="http://127.0.0.1:1/callback",
            scopes=SCOPES,
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            token_encryption_key=SecretStr(key),
        )
        database = DatabaseSettings.model_validate(
            {"url": DATABASE_URL, "GHL_SYNC_DATABASE_SCHEMA": schema}
        )
        started = time.monotonic()
        oauth = OAuthClient(ghl)
        try:
            # The one consent: an agency user approves all locations and future ones.
            async with httpx.AsyncClient() as browser:
                redirect = await browser.get(
                    oauth.consent_url(state="bench") + f"&approve=true&companyId={COMPANY}"
                    "&approveAllLocations=true&installToFutureLocations=true"
                )
            code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
            grant = await oauth.exchange_code(code)
        finally:
            await oauth.aclose()
        _say("consent done, code exchanged")
        job = asyncio.ensure_future(store_grant(ghl, database, grant, installs=InstallSettings()))
        try:
            done = await asyncio.wait_for(
                asyncio.shield(job), timeout=float(os.environ.get("BENCH_DEBUG_WAIT", "1e9"))
            )
        except TimeoutError:
            for t in asyncio.all_tasks():
                coro: Any = t.get_coro()
                while coro is not None:
                    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                    if frame is not None:
                        print("   ", frame.f_code.co_filename, frame.f_lineno, file=sys.stderr)
                    coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                print("---", file=sys.stderr)
            raise
        _say(f"onboarded {done.onboarded} of {done.installed}")
        consented = time.monotonic() - started
        polled = backfilled = 0
        while polled < args.locations:
            if not poller.running:
                raise RuntimeError(f"poller exited:\n{poller.tail()}")
            backfilled, polled = await _progress(pool)
            if int(time.monotonic() - started) % 10 == 0:
                _say(f"backfilled {backfilled}, polled {polled}")
            await asyncio.sleep(0.5)
        wall = time.monotonic() - started
        limited = await _rate_limited(f"http://127.0.0.1:{poller_port}/metrics")
        company = (
            {
                r["request_class"]: int(r["n"])
                for r in await pool.fetch(
                    "SELECT request_class, sum(requests) AS n FROM ghl_request_counts"
                    " WHERE location_id = $1 GROUP BY 1",
                    COMPANY,
                )
            }
            if await pool.fetchval("SELECT to_regclass('ghl_request_counts') IS NOT NULL")
            else {}
        )
        return {
            "wall": wall,
            "consent": consented,
            "onboarded": done.onboarded,
            "installed": done.installed,
            "backfilled": backfilled,
            "polled": polled,
            "company_calls": company,
            "expected_company_calls": args.locations + math.ceil(args.locations / 20),
            "rate_limited": limited,
            "manual_steps": 0,
            "loadavg": _loadavg(),
        }
    finally:
        await supervisor.stop("the run is over")
        await pool.close()
        await drop_schema(DATABASE_URL, schema)


async def main_async(args: argparse.Namespace) -> None:
    results = []
    for run in range(args.runs):
        result = await one_run(args, seed=100 + run)
        results.append(result)
        print(json.dumps({"run": run + 1, **result}), flush=True)
    walls = [r["wall"] for r in results]
    print(
        f"{args.locations} locations x {args.contacts} contacts, {len(results)} runs: "
        f"median wall {statistics.median(walls):.1f}s (runs {', '.join(f'{w:.1f}' for w in walls)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locations", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-backfills", type=int, default=64)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
