"""One way to open a PostgreSQL pool: the URL, the schema first on the search_path, a size.

`open_pool` is what every process uses; `wait_for_pool` opens one under the outage policy
(`services.platform.outage`): while PostgreSQL does not answer, the dependency is reported down
once and the open is retried with backoff.

Pools have no floor by default (`min_size=0`): asyncpg would restore a floor during an outage,
logging a traceback per try; a pool that must hold connections from the start says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from pydantic import SecretStr

from services.platform.outage import Dependency, database_outage

__all__ = ["open_pool", "wait_for_pool"]


async def open_pool(
    url: SecretStr | str,
    *,
    schema: str | None = None,
    max_size: int,
    min_size: int = 0,
    server_settings: Mapping[str, str] | None = None,
    **options: Any,
) -> asyncpg.Pool:
    """A pool on `url` whose connections find `schema`'s tables first and take any further
    `server_settings` (asyncpg `options` pass through: `reset=`, `init=`, `timeout=`, ...)."""
    dsn = url.get_secret_value() if isinstance(url, SecretStr) else url
    settings = {
        **({"search_path": schema} if schema is not None else {}),
        **(server_settings or {}),
    }
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, server_settings=settings or None, **options
    )
    return pool


async def wait_for_pool(
    postgres: Dependency,
    url: SecretStr | str,
    *,
    schema: str | None = None,
    max_size: int,
    **options: Any,
) -> asyncpg.Pool:
    """`open_pool`, retried while PostgreSQL is out (`postgres` reports it down and back)."""
    pool: asyncpg.Pool = await postgres.wait_for(
        lambda: open_pool(url, schema=schema, max_size=max_size, **options),
        retry_on=database_outage,
    )
    return pool
