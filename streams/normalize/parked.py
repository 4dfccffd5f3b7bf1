"""The parked list in PostgreSQL (`normalize_parked`), so `ghl-sync status` shows which
locations wait for a token and how many records wait with them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

import asyncpg

from services.platform.pools import open_pool
from streams.settings import StreamsSettings

__all__ = ["ParkedStore"]


class ParkedStore:
    """One worker member's rows of `normalize_parked`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: StreamsSettings) -> AsyncIterator[ParkedStore]:
        """A store on its own small pool for the settings' database."""
        pool = await open_pool(settings.database_url, schema=settings.database_schema, max_size=1)
        try:
            yield cls(pool)
        finally:
            await pool.close()

    async def replace(self, member: str, parked: Mapping[str, tuple[int, str, datetime]]) -> None:
        """The member's parked locations are now exactly `parked`."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM normalize_parked WHERE member = $1", member)
            if parked:
                await conn.executemany(
                    "INSERT INTO normalize_parked (member, location_id, records, reason,"
                    " parked_since) VALUES ($1, $2, $3, $4, $5)",
                    [(member, loc, n, reason, since) for loc, (n, reason, since) in parked.items()],
                )

    async def clear(self, member: str) -> None:
        """The member stops: its rows go."""
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM normalize_parked WHERE member = $1", member)

    async def read(self) -> list[asyncpg.Record]:
        """Every member's rows, freshest first."""
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                "SELECT location_id, sum(records) AS records, min(reason) AS reason,"
                " min(parked_since) AS parked_since, max(updated_at) AS updated_at"
                " FROM normalize_parked GROUP BY location_id ORDER BY location_id"
            )
