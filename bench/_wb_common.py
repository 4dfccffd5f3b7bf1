"""Shared pieces of the write-back benchmarks: a simulator in a child process, a fresh schema
and topic prefix, percentiles."""

from __future__ import annotations

import multiprocessing
import socket
import time
import uuid
from typing import Any

import asyncpg
import httpx

from services.db.migrate import apply_migrations
from services.db.settings import DatabaseSettings

__all__ = ["drop_schema", "free_port", "fresh_schema", "percentile", "serve_simulator", "wait_http"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_simulator(port: int, locations: int, contacts: int, faults: dict[str, Any]) -> None:
    import uvicorn

    from services.simulator import SimulatorSettings, create_app
    from services.simulator.settings import FaultSettings

    settings = SimulatorSettings(
        seed=3, locations=locations, contacts_per_location=contacts, faults=FaultSettings(**faults)
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="error")


def serve_simulator(
    locations: int, contacts: int, faults: dict[str, Any] | None = None
) -> tuple[multiprocessing.Process, str]:
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(
        target=_run_simulator, args=(port, locations, contacts, faults or {}), daemon=True
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
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


async def fresh_schema() -> tuple[str, str]:
    """(database url, new schema with every migration applied)."""
    url = DatabaseSettings().url.get_secret_value()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn, schema=schema)
    finally:
        await conn.close()
    return url, schema


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
