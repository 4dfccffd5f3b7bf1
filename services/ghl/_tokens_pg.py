"""`PostgresTokenStore`: OAuth pairs in table `ghl_tokens`, encrypted, locked per row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import asyncpg
from pydantic import SecretStr

from services.ghl._crypto import TokenCipher
from services.ghl.tokens import StoredToken, TokenSlot

__all__ = ["PostgresTokenStore"]

_COLUMNS = "location_id, company_id, user_type, scope, access_token, refresh_token, expires_at"


class PostgresTokenStore:
    """A `TokenStore` in PostgreSQL; `pool` connections must see `ghl_tokens`."""

    def __init__(self, pool: asyncpg.Pool, cipher: TokenCipher) -> None:
        self._pool = pool
        self._cipher = cipher

    def __repr__(self) -> str:
        return "PostgresTokenStore()"

    def _decode(self, row: asyncpg.Record) -> StoredToken:
        location = row["location_id"]
        refresh = row["refresh_token"]
        return StoredToken(
            location_id=location,
            access_token=SecretStr(
                self._cipher.decrypt(row["access_token"], context=f"{location}:access")
            ),
            refresh_token=SecretStr(self._cipher.decrypt(refresh, context=f"{location}:refresh"))
            if refresh is not None
            else None,
            expires_at=row["expires_at"],
            scope=row["scope"],
            company_id=row["company_id"],
            user_type=row["user_type"],
        )

    def _encode(self, token: StoredToken) -> tuple[bytes, bytes | None]:
        where = token.location_id
        access = self._cipher.encrypt(
            token.access_token.get_secret_value(), context=f"{where}:access"
        )
        refresh = (
            self._cipher.encrypt(token.refresh_token.get_secret_value(), context=f"{where}:refresh")
            if token.refresh_token is not None
            else None
        )
        return access, refresh

    async def load(self, location_id: str) -> StoredToken | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM ghl_tokens WHERE location_id = $1", location_id
        )
        return self._decode(row) if row is not None else None

    async def save(self, token: StoredToken) -> None:
        access, refresh = self._encode(token)
        await self._pool.execute(
            "INSERT INTO ghl_tokens (location_id, company_id, user_type, scope, access_token,"
            " refresh_token, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (location_id) DO UPDATE SET company_id = EXCLUDED.company_id,"
            " user_type = EXCLUDED.user_type, scope = EXCLUDED.scope,"
            " access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,"
            " expires_at = EXCLUDED.expires_at, updated_at = now()",
            token.location_id,
            token.company_id,
            token.user_type,
            token.scope,
            access,
            refresh,
            token.expires_at,
        )

    @asynccontextmanager
    async def _locked(self, location_id: str) -> AsyncIterator[TokenSlot]:
        async with self._pool.acquire() as conn, conn.transaction():
            # The row lock serialises refreshes of this location across every process; the
            # re-read under it sees any pair another process committed while we waited.
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM ghl_tokens WHERE location_id = $1 FOR UPDATE",
                location_id,
            )
            slot = _PgSlot(self, conn, self._decode(row) if row is not None else None)
            yield slot

    def locked(self, location_id: str) -> AbstractAsyncContextManager[TokenSlot]:
        return self._locked(location_id)


@dataclass
class _PgSlot:
    store: PostgresTokenStore
    conn: asyncpg.pool.PoolConnectionProxy
    current: StoredToken | None

    async def replace(self, token: StoredToken) -> None:
        access, refresh = self.store._encode(token)
        await self.conn.execute(
            "UPDATE ghl_tokens SET access_token = $2, refresh_token = $3, expires_at = $4,"
            " scope = $5, refresh_count = refresh_count + 1, refreshed_at = now(),"
            " updated_at = now() WHERE location_id = $1",
            token.location_id,
            access,
            refresh,
            token.expires_at,
            token.scope,
        )
        self.current = token
