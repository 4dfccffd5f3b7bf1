"""The batch consumer takes a batch's records from the Kafka client in steps
(`FETCH_STEP` at a time, a turn of the event loop between): the same records, in each
partition's order, up to the batch size, with the wait only on the first call."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiokafka import TopicPartition

from services.platform.batch_consumer import FETCH_STEP, _getmany_in_steps


class _Buffered:
    """What the Kafka client has fetched, per partition, as its `getmany` hands it out."""

    def __init__(self, counts: dict[int, int]) -> None:
        self.buffers = {TopicPartition("t", p): deque(range(n)) for p, n in counts.items()}
        self.timeouts: list[int] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[int]]:
        self.timeouts.append(timeout_ms)
        out: dict[Any, list[int]] = {}
        for tp, buffer in self.buffers.items():
            while buffer and max_records:
                out.setdefault(tp, []).append(buffer.popleft())
                max_records -= 1
        return out


def _taken(counts: dict[int, int], limit: int) -> tuple[dict[Any, list[int]], _Buffered]:
    client = _Buffered(counts)
    fetched = asyncio.run(_getmany_in_steps(client, 0.2, limit))  # type: ignore[arg-type]
    return fetched, client


def test_a_full_batch_is_taken_in_steps_in_partition_order() -> None:
    fetched, client = _taken({0: 3 * FETCH_STEP, 1: 3 * FETCH_STEP}, 5 * FETCH_STEP)
    assert sum(map(len, fetched.values())) == 5 * FETCH_STEP
    for records in fetched.values():
        assert records == list(range(len(records)))  # each partition in order, no gap
    assert client.timeouts == [200] + [0] * 4  # only the first call waits


def test_fewer_records_than_a_batch_end_it_when_the_client_has_no_more() -> None:
    fetched, client = _taken({0: FETCH_STEP + 7, 3: 5}, 10 * FETCH_STEP)
    assert {tp.partition: len(r) for tp, r in fetched.items()} == {0: FETCH_STEP + 7, 3: 5}
    assert client.timeouts == [200, 0, 0]


def test_nothing_fetched_is_an_empty_batch() -> None:
    fetched, client = _taken({}, 5000)
    assert fetched == {}
    assert client.timeouts == [200]
