"""What a poller or a backfill in a test works through: a pool on the test's schema and a
started sink of canonical events (on a streams settings' events topic, or any other)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import asyncpg

from services.poller import EventSink
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["poller_io", "streams_poller_io"]


@contextlib.asynccontextmanager
async def poller_io(
    database_url: str, schema: str, bootstrap: str, topic: str
) -> AsyncIterator[tuple[asyncpg.Pool, EventSink]]:
    """A pool whose `search_path` is `schema` and an `EventSink` on `topic`; the sink stopped
    and the pool closed afterwards."""
    pool = await asyncpg.create_pool(database_url, server_settings={"search_path": schema})
    try:
        sink = EventSink(bootstrap, topic)
        await sink.start()
        try:
            yield pool, sink
        finally:
            await sink.stop()
    finally:
        await pool.close()


def streams_poller_io(
    streams: StreamsSettings,
) -> AbstractAsyncContextManager[tuple[asyncpg.Pool, EventSink]]:
    """`poller_io` on the database, schema, broker and events topic of `streams`."""
    return poller_io(
        streams.database_url.get_secret_value(),
        streams.database_schema,
        streams.kafka_bootstrap_servers,
        topic_names(streams).events,
    )
