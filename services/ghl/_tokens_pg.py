"""`PostgresTokenStore`: OAuth pairs in table `ghl_tokens` (locations) or
`ghl_company_tokens` (agencies' Company tokens, `PostgresTokenStore.companies`), encrypted,
locked per row.

A lock also takes a transaction-scoped advisory lock on the key, so two processes minting the
first token of a location (no row to lock yet) are serialised too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import asyncpg
from pydantic import SecretStr

from services.ghl._crypto import TokenCipher
from services.ghl.tokens import StoredToken, TokenSlot

__all__ = ["PostgresTokenStore"]

_LOCATION_COLUMNS = (
    "location_id, company_id, user_type, scope, access_token, refresh_token, expires_at"
)
_COMPANY_COLUMNS = (
    "company_id AS location_id, company_id, user_type, scope, access_token, refresh_token,"
    " expires_at"
)


class PostgresTokenStore:
    """A `TokenStore` in PostgreSQL; `pool` connections must see `ghl_tokens`."""

    def __init__(self, pool: asyncpg.Pool, cipher: TokenCipher, *, company: bool = False) -> None:
        self._pool = pool
        self._cipher = cipher
        self._company = company
        self._table = "ghl_company_tokens" if company else "ghl_tokens"
        self._key = "company_id" if company else "location_id"
        self._columns = _COMPANY_COLUMNS if company else _LOCATION_COLUMNS
        # Company rows bind another prefix into the ciphertexts: a company's sealed token can
        # never be read back as a location's, even were the ids to collide.
        self._prefix = "company:" if company else ""

    @classmethod
    def companies(cls, pool: asyncpg.Pool, cipher: TokenCipher) -> PostgresTokenStore:
        """The store of Company tokens (keyed by company id)."""
        return cls(pool, cipher, company=True)

    def __repr__(self) -> str:
        return f"PostgresTokenStore(table={self._table})"

    def _decode(self, row: asyncpg.Record) -> StoredToken:
        location = row["location_id"]
        where = f"{self._prefix}{location}"
        refresh = row["refresh_token"]
        return StoredToken(
            location_id=location,
            access_token=SecretStr(
                self._cipher.decrypt(row["access_token"], context=f"{where}:access")
            ),
            refresh_token=SecretStr(self._cipher.decrypt(refresh, context=f"{where}:refresh"))
            if refresh is not None
            else None,
            expires_at=row["expires_at"],
            scope=row["scope"],
            company_id=row["company_id"],
            user_type=row["user_type"],
        )

    def _encode(self, token: StoredToken) -> tuple[bytes, bytes | None]:
        where = f"{self._prefix}{token.location_id}"
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
            f"SELECT {self._columns} FROM {self._table} WHERE {self._key} = $1", location_id
        )
        return self._decode(row) if row is not None else None

    async def save(self, token: StoredToken) -> None:
        await self._upsert(self._pool, token, refreshed=False)

    async def delete(self, location_id: str) -> bool:
        """Forget a pair (an UNINSTALL: GHL revoked it); True if there was one."""
        done = await self._pool.execute(
            f"DELETE FROM {self._table} WHERE {self._key} = $1", location_id
        )
        return bool(done.endswith(" 1"))

    async def _upsert(
        self,
        conn: asyncpg.Pool | asyncpg.pool.PoolConnectionProxy,
        token: StoredToken,
        *,
        refreshed: bool,
    ) -> None:
        access, refresh = self._encode(token)
        company_column = "" if self._company else "company_id, "
        company_value = "" if self._company else "$7, "
        company_set = "" if self._company else "company_id = EXCLUDED.company_id, "
        counted = (
            f", refresh_count = {self._table}.refresh_count + 1, refreshed_at = now()"
            if refreshed
            else ""
        )
        args: list[object] = [
            token.location_id,
            token.user_type,
            token.scope,
            access,
            refresh,
            token.expires_at,
        ]
        if not self._company:
            args.append(token.company_id)
        await conn.execute(
            f"INSERT INTO {self._table} ({self._key}, {company_column}user_type, scope,"
            f" access_token, refresh_token, expires_at)"
            f" VALUES ($1, {company_value}$2, $3, $4, $5, $6)"
            f" ON CONFLICT ({self._key}) DO UPDATE SET {company_set}"
            " user_type = EXCLUDED.user_type, scope = EXCLUDED.scope,"
            " access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,"
            f" expires_at = EXCLUDED.expires_at, updated_at = now(){counted}",
            *args,
        )

    @asynccontextmanager
    async def _locked(self, location_id: str) -> AsyncIterator[TokenSlot]:
        async with self._pool.acquire() as conn, conn.transaction():
            # The advisory lock serialises even the first token of a location (no row yet);
            # the row lock serialises refreshes of this location across every process; the
            # re-read under it sees any pair another process committed while we waited.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self._table}:{location_id}"
            )
            row = await conn.fetchrow(
                f"SELECT {self._columns} FROM {self._table} WHERE {self._key} = $1 FOR UPDATE",
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
        await self.store._upsert(self.conn, token, refreshed=True)
        self.current = token
