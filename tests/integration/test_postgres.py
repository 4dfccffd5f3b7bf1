"""The stack's PostgreSQL serves asyncpg, and the migrations build the projection tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import pytest

from services.db.migrate import MigrationError, apply_migrations, available_migrations

pytestmark = pytest.mark.integration


async def test_asyncpg_round_trip_through_a_projection_table(pg: asyncpg.Connection) -> None:
    now = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    contact = {"id": "c1", "email": "ada@example.com", "tags": ["customer"], "extra": {"x": 1}}
    await pg.execute(
        "INSERT INTO contacts (location_id, id, email, tags, data, version, event_id)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)",
        "loc1",
        "c1",
        contact["email"],
        contact["tags"],
        json.dumps(contact),
        now,
        "e1",
    )
    row = await pg.fetchrow(
        "SELECT * FROM contacts WHERE location_id = $1 AND id = $2", "loc1", "c1"
    )
    assert row is not None
    assert row["email"] == "ada@example.com"
    assert row["tags"] == ["customer"]
    assert json.loads(row["data"]) == contact
    assert row["version"] == now
    assert row["deleted_at"] is None
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.execute(
            "INSERT INTO contacts (location_id, id, data, version, event_id)"
            " VALUES ('loc1', 'c1', '{}', now(), 'e2')"
        )


async def test_migrations_are_recorded_once_and_edits_are_refused(
    pg: asyncpg.Connection, pg_schema: str
) -> None:
    names = [m.name for m in available_migrations()]
    recorded = [
        r["name"] for r in await pg.fetch("SELECT name FROM schema_migrations ORDER BY name")
    ]
    assert recorded == names
    assert await apply_migrations(pg, schema=pg_schema) == []
    await pg.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE name = $1", names[0])
    with pytest.raises(MigrationError, match=names[0]):
        await apply_migrations(pg, schema=pg_schema)
