"""Plain-SQL migrations, applied in order and recorded.

Each file in `migrations/` named `NNNN_description.sql` runs once, in its own transaction,
in the target schema. Its checksum is recorded, so an edited migration that was already
applied is reported instead of silently diverging.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import asyncpg

__all__ = ["Migration", "MigrationError", "apply_migrations", "available_migrations"]

# Any constant works; every process that migrates the same database uses the same one, so
# two `stack up` or two services starting at once apply each migration exactly once.
_LOCK_KEY = 0x6768_6C73_796E63


class MigrationError(Exception):
    """A recorded migration differs from the file of the same name."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migration files shipped with the package, in order."""
    folder = resources.files("services.db") / "migrations"
    files = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".sql")),
        key=lambda item: item.name,
    )
    return [Migration(name=item.name, sql=item.read_text()) for item in files]


async def apply_migrations(conn: asyncpg.Connection, schema: str = "public") -> list[str]:
    """Apply the migrations not yet recorded in `schema`; returns the names applied."""
    quoted = await conn.fetchval("SELECT quote_ident($1)", schema)
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        recorded = {
            row["name"]: row["checksum"]
            for row in await conn.fetch(f"SELECT name, checksum FROM {quoted}.schema_migrations")
        }
        for migration in available_migrations():
            if migration.name in recorded:
                if recorded[migration.name] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name} was applied to schema {schema!r} with "
                        "different contents; add a new migration instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                # SET LOCAL keeps the schema choice inside this transaction only.
                await conn.execute(f"SET LOCAL search_path TO {quoted}")
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {quoted}.schema_migrations (name, checksum) VALUES ($1, $2)",
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
