"""What a poller or a backfill in a test works through: a pool on the test's schema and a
started sink of canonical events."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from services.poller import EventSink

__all__ = ["poller_io"]


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
