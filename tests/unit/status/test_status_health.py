"""Liveness, readiness and /metrics of the worker and the poller (`services.platform.health`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from services.platform.health import serving_health
from services.status import HealthServer, Heartbeat, Readiness
from streams.normalize import GhlFetcher
from streams.worker import _marking
from tests.factories import FakeClock


def test_live_until_the_heartbeat_goes_stale() -> None:
    clock = FakeClock(100.0)
    heartbeat = Heartbeat(clock=clock)
    server = HealthServer(heartbeat=heartbeat, readiness=Readiness(), stale_after=30)

    assert server.liveness()[0] == 200  # booting: no beat yet
    heartbeat.beat()
    clock.now += 29
    assert server.liveness()[0] == 200
    clock.now += 2
    assert server.liveness() == (503, {"status": "stalled", "heartbeat_age_seconds": 31.0})


def test_ready_only_when_every_condition_holds_and_the_loop_turns() -> None:
    clock = FakeClock(100.0)
    heartbeat, readiness = Heartbeat(clock=clock), Readiness()
    readiness.require("projections", "normalize")
    server = HealthServer(heartbeat=heartbeat, readiness=readiness, stale_after=30)

    assert server.readiness() == (
        503,
        {"status": "not ready", "failing": ["normalize", "projections", "heartbeat"]},
    )
    heartbeat.beat()
    readiness.set("projections")
    readiness.set("normalize")
    assert server.readiness() == (200, {"status": "ready"})
    readiness.set("normalize", False)
    assert server.readiness()[1]["failing"] == ["normalize"]
    readiness.set("normalize")
    clock.now += 60
    assert server.readiness()[1]["failing"] == ["heartbeat"]


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Readiness]]:
    registry = CollectorRegistry()
    Counter("ghl_sync_example", "An example counter.", registry=registry).inc(3)
    heartbeat, readiness = Heartbeat(), Readiness()
    readiness.require("wired")
    heartbeat.beat()
    server = HealthServer(heartbeat=heartbeat, readiness=readiness, registry=registry)
    server.start(0, host="127.0.0.1")
    try:
        yield server, readiness
    finally:
        server.stop()


def test_the_endpoints_over_http(served: tuple[HealthServer, Readiness]) -> None:
    server, readiness = served

    assert _get(server.port, "/livez")[0] == 200
    assert _get(server.port, "/healthz")[0] == 200
    status, body = _get(server.port, "/readyz")
    assert (status, json.loads(body)["failing"]) == (503, ["wired"])
    readiness.set("wired")
    assert _get(server.port, "/readyz")[0] == 200
    status, body = _get(server.port, "/metrics")
    assert status == 200
    assert b"ghl_sync_example_total 3.0" in body
    assert _get(server.port, "/nope")[0] == 404


async def test_the_poller_is_ready_inside_the_block_only() -> None:
    async with serving_health(0) as readiness:
        assert readiness.failing() == ["wired"]
        readiness.set("wired")
        await asyncio.sleep(0)
        assert readiness.failing() == []
    assert readiness.failing() == ["wired"]


async def test_the_worker_marks_normalize_ready_while_its_fetcher_is_open() -> None:
    readiness = Readiness()
    readiness.require("normalize")
    fetcher: Any = object()

    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[GhlFetcher]:
        yield fetcher

    async with _marking(factory, readiness)() as opened:
        assert opened is fetcher
        assert readiness.failing() == []
    assert readiness.failing() == ["normalize"]
