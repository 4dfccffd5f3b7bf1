"""GHL client throughput against the simulator: every location driven at its rate limit.

The simulator runs in a child process (uvicorn on a free local port), so the CPU time measured
here (`time.process_time`) is the client's alone: HTTP, JSON, pydantic models, token lookups and
the rate limiter (the PostgreSQL ledger by default, as deployed).

    .venv/bin/python bench/client_throughput.py                    # 20 locations, 30 s, PostgreSQL
    .venv/bin/python bench/client_throughput.py --locations 40 --seconds 60 --limiter memory

Target: >= 95% of the aggregate budget (locations x 100 requests / 10 s) used, zero 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import create_schema, drop_schema, simulator_tokens, start_simulator
from services.db.settings import DatabaseSettings
from services.ghl import (
    GhlClient,
    GhlSettings,
    InMemoryRateLimiter,
    PostgresRateLimiter,
    RateLimiter,
    StaticTokenProvider,
    build_client,
)
from services.ghl.requests import ContactSearch, TaskSearch


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts answers by status on their way back to the client."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Result:
    seconds: float
    cpu: float
    statuses: Counter[int]
    errors: Counter[str]


async def _drive(
    client: GhlClient, location: str, contact_ids: list[str], deadline: float, errors: Counter[str]
) -> None:
    turn = 0
    while time.monotonic() < deadline:
        turn += 1
        try:
            match turn % 4:
                case 0:
                    await client.get_contact(location, contact_ids[turn % len(contact_ids)])
                case 1:
                    await client.list_contacts(location, limit=20)
                case 2:
                    await client.search_contacts(location, ContactSearch(pageLimit=20))
                case _:
                    await client.search_tasks(location, TaskSearch(limit=20))
        except Exception as exc:  # counted and reported; the bench keeps driving
            errors[type(exc).__name__] += 1


async def run(args: argparse.Namespace) -> Result:
    server, base_url = start_simulator(args.locations, args.contacts, seed=11)
    pool: asyncpg.Pool | None = None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    db = DatabaseSettings()
    try:
        state, minted = await simulator_tokens(base_url, within=10)
        tokens = {location: SecretStr(token) for location, token in minted.items()}
        settings = GhlSettings(base_url=base_url)
        limiter: RateLimiter
        if args.limiter == "postgres":
            await create_schema(db.url.get_secret_value(), schema)
            pool = await asyncpg.create_pool(
                db.url.get_secret_value(),
                min_size=2,
                max_size=10,
                server_settings={"search_path": schema},
            )
            limiter = PostgresRateLimiter(pool, settings)
        else:
            limiter = InMemoryRateLimiter.from_settings(settings)
        transport = CountingTransport(httpx.AsyncHTTPTransport(limits=httpx.Limits()))
        client = build_client(
            settings,
            token_provider=StaticTokenProvider(tokens),
            rate_limiter=limiter,
            transport=transport,
        )
        errors: Counter[str] = Counter()
        async with client:
            cpu0, wall0 = time.process_time(), time.monotonic()
            deadline = wall0 + args.seconds
            await asyncio.gather(
                *(
                    _drive(
                        client,
                        location,
                        [c["id"] for c in data["contacts"]],
                        deadline,
                        errors,
                    )
                    for location, data in state.items()
                    for _ in range(args.workers)
                )
            )
            wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
            await limiter.aclose()
        return Result(wall, cpu, transport.statuses, errors)
    finally:
        if pool is not None:
            await pool.close()
            await drop_schema(db.url.get_secret_value(), schema)
        server.terminate()
        server.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3, help="concurrent callers per location")
    parser.add_argument("--contacts", type=int, default=20, help="seeded contacts per location")
    parser.add_argument("--limiter", choices=("postgres", "memory"), default="postgres")
    args = parser.parse_args()

    result = asyncio.run(run(args))
    total = sum(result.statuses.values())
    ok = sum(n for status, n in result.statuses.items() if status < 300)
    budget = args.locations * 100 / 10 * result.seconds
    print(
        f"GHL client throughput: {args.locations} locations x {args.workers} callers, "
        f"{result.seconds:.1f} s, limiter={args.limiter}"
    )
    print(f"  requests          {total} ({ok} 2xx), {total / result.seconds:.1f} req/s")
    print(f"  429 answers       {result.statuses.get(429, 0)}")
    others = {s: n for s, n in sorted(result.statuses.items()) if s >= 300 and s != 429}
    print(f"  other statuses    {others}")
    print(f"  client errors     {dict(result.errors)}")
    print(
        f"  budget used       {100 * total / budget:.1f}% of {budget:.0f} "
        f"(aggregate {args.locations * 10:.0f} req/s)"
    )
    print(
        f"  client CPU        {result.cpu:.2f} s, {1e3 * result.cpu / max(total, 1):.3f} ms/request"
    )
    verdict = total >= 0.95 * budget and result.statuses.get(429, 0) == 0
    print(f"  target (>= 95% of budget, zero 429s): {'MET' if verdict else 'NOT MET'}")
    if not verdict:
        sys.exit(1)


if __name__ == "__main__":
    main()
