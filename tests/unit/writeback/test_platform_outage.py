"""The outage policy's pieces: jittered capped backoff, one log line per change of state,
paced reconnects, and aiokafka's per-attempt noise kept out of the log."""

from __future__ import annotations

import logging
from typing import cast

import asyncpg
import pytest

from services.platform.outage import (
    Backoff,
    Dependency,
    database_outage,
    kafka_client_options,
    probe_pool,
    quiet_kafka_logs,
)
from tests.factories import FakeClock


def test_backoff_grows_to_its_cap_and_jitters_below_it() -> None:
    highest = Backoff(first=0.5, cap=5.0, rng=lambda: 1.0)
    assert [highest.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    lowest = Backoff(first=0.5, cap=5.0, floor=0.1, rng=lambda: 0.0)
    assert {lowest.next() for _ in range(5)} == {0.1}
    highest.reset()
    assert highest.next() == 0.5


def test_a_dependency_logs_once_when_it_goes_and_once_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(1000.0)
    changes: list[tuple[str, bool, str]] = []
    log = logging.getLogger("test.outage")
    kafka = Dependency("kafka", log=log, clock=clock, on_change=lambda *c: changes.append(c))
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for second in range(100):
            clock.now += 1
            kafka.lost(ConnectionRefusedError(111, f"refused {second}"))
        clock.now += 0.5
        kafka.restored()
        kafka.restored()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("kafka unreachable (ConnectionRefusedError: ")
    assert lines[1] == "kafka is back after 99.5s unreachable; resuming"
    assert [(n, up) for n, up, _ in changes] == [("kafka", False), ("kafka", True)]
    assert kafka.up
    assert kafka.outages == 1
    assert kafka.last_outage_seconds == 99.5


def test_while_down_only_one_caller_per_backoff_interval_may_reconnect() -> None:
    clock = FakeClock(1000.0)
    postgres = Dependency(
        "postgres",
        log=logging.getLogger("test.outage"),
        clock=clock,
        backoff=Backoff(first=1.0, cap=4.0, rng=lambda: 1.0),
    )
    assert postgres.may_try()
    postgres.lost("refused")
    tries = 0
    for _ in range(600):  # 60 s of requests at 10 per second
        clock.now += 0.1
        tries += postgres.may_try()
    # Intervals 2, 4, 4, ... seconds (the first, 1 s, was taken by the loss itself).
    assert 14 <= tries <= 16
    assert postgres.retry_after() >= 1


def test_kafka_clients_back_off_a_second_between_retries() -> None:
    assert kafka_client_options() == {"retry_backoff_ms": 1000}


def test_aiokafka_connection_errors_are_dropped_and_other_messages_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_kafka_logs()
    quiet_kafka_logs()  # idempotent
    client = logging.getLogger("aiokafka")
    conn = logging.getLogger("aiokafka.conn")
    with caplog.at_level(logging.INFO):
        client.error("Unable connect to node with id %s: %s", 1, "refused")
        client.error("Unable to update metadata from %s", [1])
        conn.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9092, "refused")
        client.warning("Topic %s is not authorized for this client", "t")
    assert [r.getMessage() for r in caplog.records] == ["Topic t is not authorized for this client"]


class _Pool:
    """A pool whose connection the outage left unusable, then one that answers."""

    def __init__(self, broken: int) -> None:
        self.broken = broken
        self.expired = 0

    async def fetchval(self, query: str) -> int:
        assert query == "SELECT 1"
        if self.broken:
            self.broken -= 1
            raise asyncpg.InternalClientError("cannot switch to state 12; another operation")
        return 1

    async def expire_connections(self) -> None:
        self.expired += 1


async def test_a_probe_that_draws_an_unusable_connection_expires_the_pool_and_still_fails() -> None:
    pool = _Pool(broken=1)
    with pytest.raises(asyncpg.InternalClientError):
        await probe_pool(cast(asyncpg.Pool, pool))
    assert pool.expired == 1  # the next probe gets fresh connections
    assert database_outage(asyncpg.InternalClientError("x"))  # counted as an outage, not a bug
    await probe_pool(cast(asyncpg.Pool, pool))
    assert pool.expired == 1
