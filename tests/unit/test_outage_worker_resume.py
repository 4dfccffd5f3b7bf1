"""The worker runs a processor again after an outage stopped it (a produce Kafka never
confirmed, a database it cannot reach yet): one line, a wait until the broker answers, a
rerun; a bug still propagates."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaTimeoutError

from services.platform.outage import Dependency
from streams.worker import _resume_after_outages


async def test_a_processor_stopped_by_an_outage_runs_again_once_kafka_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="streams.worker")
    up = asyncio.Event()
    up.set()
    kafka = Dependency(
        "kafka", log=logging.getLogger("streams.worker"),
        on_change=lambda _n, ok, _r: (up.set if ok else up.clear)(),
    )  # fmt: skip
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise KafkaTimeoutError("produce not confirmed")
        if runs <= 3:  # e.g. its PostgreSQL pool cannot connect yet
            raise ConnectionRefusedError("connection refused")

    resuming = asyncio.create_task(_resume_after_outages("normalize", run, kafka, up))
    await asyncio.sleep(0.05)
    assert runs == 1  # waits for the broker, not only for the backoff
    assert not kafka.up
    kafka.restored()
    await asyncio.wait_for(resuming, 30)
    assert runs == 4
    stopped = [r for r in caplog.records if "normalize stopped by an outage" in r.getMessage()]
    # One line for the outage; the reruns that failed again at once are the same outage.
    assert [r.levelno for r in stopped] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert sum("kafka unreachable" in r.getMessage() for r in caplog.records) == 1


async def test_a_bug_in_a_processor_propagates() -> None:
    up = asyncio.Event()
    up.set()
    kafka = Dependency("kafka", log=logging.getLogger("streams.worker"))

    async def run() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await _resume_after_outages("projections", run, kafka, up)
