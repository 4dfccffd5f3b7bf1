"""What a poller or a backfill in a test works through: a pool on the test's schema and a
started sink of canonical events (on a streams settings' events topic, or any other), and the
same with the consumers the test polls against running beside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import httpx

from services.poller import EventSink
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.factories.tasks import running

__all__ = ["poller_io", "polling", "streams_poller_io"]


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


@contextlib.asynccontextmanager
async def polling(
    streams: StreamsSettings,
    *runs: Callable[[], Coroutine[Any, Any, Any]],
    clients: Sequence[httpx.AsyncClient] = (),
) -> AsyncIterator[tuple[asyncpg.Pool, EventSink, list[asyncio.Task[Any]]]]:
    """`streams_poller_io(streams)`, and once it is up each of `runs` called and run as a
    background task (`running`); on the way out the tasks are cancelled, the sink and the pool
    closed, then each of `clients` closed, whatever happened."""
    try:
        async with (
            streams_poller_io(streams) as (pool, sink),
            running(*(run() for run in runs)) as tasks,
        ):
            yield pool, sink, tasks
    finally:
        for client in clients:
            await client.aclose()
