"""Custom field definitions in PostgreSQL, and the sync that fills them from GHL.

`sync_definitions(conn, location_id, fetch)` replaces a location's definitions with what
`fetch(location_id)` returns (the `customFields` list of `GET /locations/{id}/customFields`)
in one transaction. The caller brings `fetch`, so the poller can run it within the location's
quota plan (at onboarding, on a schedule, and when `values_by_key` reports an unknown id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg

from services.customfields.types import Definition

__all__ = ["Fetch", "definitions_by_location", "load_definitions", "sync_definitions"]

Fetch = Callable[[str], Awaitable[Sequence[Mapping[str, Any]]]]
"""location id → GHL's custom field definitions (JSON objects)."""

Connection = asyncpg.Connection | asyncpg.Pool | asyncpg.pool.PoolConnectionProxy


async def load_definitions(conn: Connection, location_id: str) -> list[Definition]:
    """The stored definitions of a location, by key."""
    rows = await conn.fetch(
        "SELECT id, key, name, data_type, options FROM custom_field_definitions"
        " WHERE location_id = $1 ORDER BY key",
        location_id,
    )
    return [
        Definition(r["id"], r["key"], r["name"], r["data_type"], tuple(r["options"])) for r in rows
    ]


async def definitions_by_location(
    conn: Connection, location_ids: Sequence[str] | None = None
) -> dict[str, list[Definition]]:
    """The stored definitions of these locations (None: of every location)."""
    rows = await conn.fetch(
        "SELECT location_id, id, key, name, data_type, options FROM custom_field_definitions"
        " WHERE $1::text[] IS NULL OR location_id = ANY($1::text[]) ORDER BY location_id, key",
        None if location_ids is None else list(location_ids),
    )
    out: dict[str, list[Definition]] = {}
    for r in rows:
        out.setdefault(r["location_id"], []).append(
            Definition(r["id"], r["key"], r["name"], r["data_type"], tuple(r["options"]))
        )
    return out


async def sync_definitions(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, location_id: str, fetch: Fetch
) -> int:
    """Replace the location's definitions with GHL's (contact fields only); returns how many.
    An entry without an id is skipped; of two with one key, the first listed is kept."""
    fetched = [
        d
        for d in await fetch(location_id)
        if d.get("model", "contact") == "contact" and d.get("id")
    ]
    by_key: dict[str, Definition] = {}
    ids: set[str] = set()
    for raw in fetched:
        definition = Definition.from_ghl(raw)
        if definition.id not in ids and definition.key not in by_key:
            by_key[definition.key] = definition
            ids.add(definition.id)
    definitions = list(by_key.values())
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM custom_field_definitions WHERE location_id = $1", location_id
        )
        await conn.executemany(
            "INSERT INTO custom_field_definitions (location_id, id, key, name, data_type, options)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(location_id, d.id, d.key, d.name, d.data_type, list(d.options)) for d in definitions],
        )
    return len(definitions)
