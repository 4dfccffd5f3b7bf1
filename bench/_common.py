"""Shared pieces of the benchmarks: a free port, the GHL simulator in a child process with a
token per seeded location, a fresh schema with every migration, a topic removed afterwards,
percentiles."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
import uuid
from multiprocessing.context import SpawnProcess
from typing import Any

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient

from services.db.migrate import apply_migrations
from services.db.settings import DatabaseSettings

__all__ = [
    "applied_rate",
    "create_schema",
    "delete_topic",
    "drop_schema",
    "free_port",
    "fresh_schema",
    "percentile",
    "serve_simulator",
    "simulator_tokens",
    "start_simulator",
    "wait_answer",
    "wait_http",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_simulator(
    port: int, locations: int, contacts: int, seed: int, log_level: str, faults: dict[str, Any]
) -> None:
    import uvicorn

    from services.simulator import SimulatorSettings, create_app
    from services.simulator.settings import FaultSettings

    settings = SimulatorSettings(
        seed=seed,
        locations=locations,
        contacts_per_location=contacts,
        faults=FaultSettings(**faults),
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level=log_level)


def start_simulator(
    locations: int,
    contacts: int,
    *,
    seed: int,
    log_level: str = "warning",
    faults: dict[str, Any] | None = None,
) -> tuple[SpawnProcess, str]:
    """The simulator (uvicorn) in a spawned child process on a free port, and its URL.

    A child process, so the CPU time a bench measures is its own; the caller terminates it.
    """
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(
        target=_run_simulator,
        args=(port, locations, contacts, seed, log_level, faults or {}),
        daemon=True,
    )
    proc.start()
    return proc, f"http://127.0.0.1:{port}"


def serve_simulator(
    locations: int, contacts: int, faults: dict[str, Any] | None = None
) -> tuple[SpawnProcess, str]:
    """The write-back benchmarks' simulator (seed 3, errors logged only), once it answers."""
    proc, url = start_simulator(locations, contacts, seed=3, log_level="error", faults=faults)
    wait_http(url + "/_admin/faults")
    return proc, url


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.1)


async def wait_answer(url: str, *, within: float) -> None:
    """Return once GET `url` answers 200; `RuntimeError` after `within` seconds."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {within:.0f} s")


async def simulator_tokens(
    base_url: str, *, within: float, http_timeout: float = 5.0
) -> tuple[dict[str, Any], dict[str, str]]:
    """Once the simulator answers: its seeded locations (`/_admin/state`) and an access token
    minted for each."""
    await wait_answer(base_url + "/_admin/state", within=within)
    async with httpx.AsyncClient(base_url=base_url, timeout=http_timeout) as admin:
        state: dict[str, Any] = (await admin.get("/_admin/state")).json()["locations"]
        tokens = {}
        for location in state:
            minted = await admin.post("/_admin/tokens", json={"locationId": location})
            tokens[location] = str(minted.json()["access_token"])
    return state, tokens


async def create_schema(url: str, schema: str) -> None:
    """A new `schema` with every migration applied."""
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn, schema=schema)
    finally:
        await conn.close()


async def fresh_schema() -> tuple[str, str]:
    """(database url, new schema with every migration applied)."""
    url = DatabaseSettings().url.get_secret_value()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    await create_schema(url, schema)
    return url, schema


async def applied_rate(url: str, schema: str, total: int) -> float:
    """Events per second the projections applied in `schema`, first to last applied batch;
    asserts they applied `total` events."""
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        row = await conn.fetchrow(
            "SELECT sum(events) AS n, extract(epoch FROM max(applied_at) - min(applied_at)) AS s"
            " FROM applied_batches"
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["n"] == total, row
    return float(row["n"]) / float(row["s"])


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
