"""The batch consumer waits for a sink that cannot give its stored offsets at assignment yet
(`Backpressure`, or PostgreSQL away), logging once when it starts waiting and once when it
has them; a sink's bug still propagates."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.platform import Backpressure, BatchConsumer, ConsumerGroupSettings
from services.platform.outage import Backoff

TP = TopicPartition("t.ghl.events.v1", 0)


class _Sink:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.asked = 0

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        self.asked += 1
        if self.failures:
            raise self.failures.pop(0)
        return {TP: 42}

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        pass

    async def write(self, records: Sequence[Any]) -> None:
        pass

    def confirmed(self) -> Mapping[TopicPartition, int]:
        return {}


def _consumer(sink: _Sink) -> BatchConsumer:
    settings = ConsumerGroupSettings(bootstrap_servers="unused:9", group_id="g", topics=("t",))
    consumer = BatchConsumer(settings, sink)
    consumer.offsets_source.backoff = Backoff(first=0.01, cap=0.02, floor=0.0)
    return consumer


async def test_an_assignment_waits_for_the_sinks_offsets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sink = _Sink(
        [
            Backpressure("PostgreSQL unavailable", retry_after=0.01),
            ConnectionRefusedError("connection refused"),
            OSError("no route"),
        ]
    )
    consumer = _consumer(sink)
    assert await consumer._sink_assigned(frozenset({TP})) == {TP: 42}
    assert sink.asked == 4
    assert consumer.offsets_source.up
    assert consumer.offsets_source.outages == 1
    lines = [
        r.getMessage() for r in caplog.records if "stored offsets of group g" in r.getMessage()
    ]
    assert len(lines) == 2, lines
    assert "unreachable (PostgreSQL unavailable)" in lines[0]
    assert "is back after" in lines[1]


async def test_a_sink_bug_at_assignment_propagates() -> None:
    consumer = _consumer(_Sink([KeyError("a bug")]))
    with pytest.raises(KeyError):
        await consumer._sink_assigned(frozenset({TP}))
