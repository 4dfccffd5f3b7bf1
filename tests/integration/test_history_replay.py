"""Replaying the history: a rebuild from the log equals the live history, and swapping it in
keeps every snapshot and the live consumer's position."""

from __future__ import annotations

import random
import uuid

import asyncpg
import pytest
from pydantic import SecretStr

from streams.admin import ensure_topics
from streams.history.consumer import HistoryConsumer
from streams.history.replay import dump_history, rebuild_history
from streams.history.store import HistoryRecord
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.conftest import TestSettings
from tests.factories import encoded, history, produce

pytestmark = pytest.mark.integration


async def test_a_rebuild_equals_the_live_history_and_swaps_in(
    test_settings: TestSettings, pg_schema: str, pg: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    settings = StreamsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        database_url=SecretStr(test_settings.database_url),
        database_schema=pg_schema,
    )
    topic = topic_names(settings).events
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    events = history(11, contacts=5)
    duplicated = events + random.Random(2).sample(events, k=len(events) // 2)
    values, keys = encoded(duplicated)
    await produce(kafka_bootstrap, topic, values, keys)
    # The live history, as its consumer builds it, in uneven batches.
    store = HistoryConsumer(settings).store
    records = [HistoryRecord(topic, 0, i, v) for i, v in enumerate(values)]
    for i in range(0, len(records), 7):
        await store.apply(pg, records[i : i + 7])
    live = await dump_history(pg)

    report = await rebuild_history(settings)
    rebuilt = await asyncpg.connect(
        test_settings.database_url, server_settings={"search_path": report.schema}
    )
    try:
        assert await dump_history(rebuilt) == live
    finally:
        await rebuilt.close()
        await pg.execute(f'DROP SCHEMA "{report.schema}" CASCADE')
    assert report.events == len(values)

    swapped = await rebuild_history(settings, swap=True)
    assert swapped.swapped
    assert await dump_history(pg) == live
    assert await store.stored_offsets(pg, topic) == {0: len(values)}
    assert not await pg.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1", f"{pg_schema}_history_%"
    )
