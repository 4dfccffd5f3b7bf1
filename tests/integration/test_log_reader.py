"""`streams.admin.LogReader` on a real broker: reading up to given ends, then further."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.admin import LogReader, ensure_topics
from tests.factories import produce

pytestmark = pytest.mark.integration


async def test_a_catch_up_reads_what_was_fetched_past_the_first_ends(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    # A rebuild reads up to the ends it saw at start, then catches up to later ends with the
    # same reader: the records fetched past the first ends must come in the catch-up.
    topic = f"test.log-reader.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    try:
        await produce(kafka_bootstrap, topic, [b"%d" % i for i in range(10)], [b"k"] * 10)
        reader = LogReader(kafka_bootstrap, topic)
        assert await reader.start() == {0: 10}
        try:
            first: list[int] = []
            while batch := await reader.read_until({0: 4}, 100):
                first.extend(r.offset for r in batch)
            rest: list[int] = []
            while batch := await reader.read_until({0: 10}, 100):
                rest.extend(r.offset for r in batch)
        finally:
            await reader.stop()
        assert first == [0, 1, 2, 3]
        assert rest == [4, 5, 6, 7, 8, 9]
    finally:
        await kafka_admin.delete_topics([topic])
