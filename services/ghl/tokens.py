"""Where access tokens come from: `TokenProvider` and its implementations.

    StaticTokenProvider     Private Integration Tokens (or any fixed token): no refresh
    OAuthTokenProvider      OAuth pairs kept in a `TokenStore`, refreshed before expiry; one
                            refresh per location at a time, across every process

Refresh tokens are single-use. Two processes spending the same one lock the location out, so a
refresh runs under the store's per-location lock (a row lock in PostgreSQL), re-reads the pair
under it (another process may have refreshed meanwhile), and commits the new pair before the
new access token is handed to anyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import SecretStr

from services.ghl._exceptions import AuthError
from services.ghl._oauth import OAuthClient, TokenGrant

__all__ = [
    "InMemoryTokenStore",
    "OAuthTokenProvider",
    "StaticTokenProvider",
    "StoredToken",
    "TokenProvider",
    "TokenSlot",
    "TokenStore",
]

_log = logging.getLogger("services.ghl.tokens")


class TokenProvider(Protocol):
    """Supplies the bearer token for a location."""

    async def access_token(self, location_id: str) -> str:
        """A token believed valid now (refreshed first if it is about to expire)."""
        ...

    async def refresh(self, location_id: str, *, rejected: str) -> str:
        """GHL rejected `rejected` (401): return a newer token, refreshing at most once."""
        ...


class StaticTokenProvider:
    """Private Integration Tokens: one for every location, or one per location."""

    def __init__(self, token: SecretStr | Mapping[str, SecretStr]) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=**********)"

    async def access_token(self, location_id: str) -> str:
        if isinstance(self._token, SecretStr):
            return self._token.get_secret_value()
        token = self._token.get(location_id)
        if token is None:
            raise AuthError(f"no private integration token for location {location_id}")
        return token.get_secret_value()

    async def refresh(self, location_id: str, *, rejected: str) -> str:
        raise AuthError(
            f"GHL rejected the private integration token of location {location_id}; "
            "regenerate it in Settings > Private Integrations"
        )


@dataclass(frozen=True, slots=True)
class StoredToken:
    """One location's OAuth pair as stored (decrypted in memory, masked in repr)."""

    location_id: str
    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_at: datetime
    scope: str = ""
    company_id: str | None = None
    user_type: str = "Location"

    @classmethod
    def from_grant(cls, grant: TokenGrant, *, location_id: str | None = None) -> StoredToken:
        """The pair a token endpoint answer carries."""
        where = location_id or grant.location_id
        if not where:
            raise AuthError("token answer names no location; pass location_id")
        return cls(
            location_id=where,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scope=grant.scope,
            company_id=grant.company_id,
            user_type=grant.user_type or "Location",
        )

    def fresh(self, now: datetime, margin: timedelta) -> bool:
        """Still usable for at least `margin`."""
        return self.expires_at - margin > now


class TokenSlot(Protocol):
    """A location's pair while its lock is held: `current` was read under the lock."""

    current: StoredToken | None

    async def replace(self, token: StoredToken) -> None:
        """Write the new pair; it is committed when the lock is released."""
        ...


class TokenStore(Protocol):
    """Keeps OAuth pairs and serialises refreshes per location."""

    async def load(self, location_id: str) -> StoredToken | None:
        """The stored pair, without locking."""
        ...

    async def save(self, token: StoredToken) -> None:
        """Store (insert or overwrite) a pair, e.g. after the code exchange."""
        ...

    def locked(self, location_id: str) -> AbstractAsyncContextManager[TokenSlot]:
        """Hold the location's refresh lock; the slot's `replace` commits on a clean exit."""
        ...


@dataclass
class _MemorySlot:
    current: StoredToken | None
    written: StoredToken | None = None

    async def replace(self, token: StoredToken) -> None:
        self.written = token


class InMemoryTokenStore:
    """A `TokenStore` in this process's memory: for tests and single-process tools."""

    def __init__(self) -> None:
        self._tokens: dict[str, StoredToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"InMemoryTokenStore(locations={sorted(self._tokens)})"

    async def load(self, location_id: str) -> StoredToken | None:
        return self._tokens.get(location_id)

    async def save(self, token: StoredToken) -> None:
        self._tokens[token.location_id] = token

    @asynccontextmanager
    async def _locked(self, location_id: str) -> AsyncIterator[TokenSlot]:
        lock = self._locks.setdefault(location_id, asyncio.Lock())
        async with lock:
            slot = _MemorySlot(self._tokens.get(location_id))
            yield slot
            if slot.written is not None:
                self._tokens[location_id] = slot.written

    def locked(self, location_id: str) -> AbstractAsyncContextManager[TokenSlot]:
        return self._locked(location_id)


class OAuthTokenProvider:
    """OAuth access tokens from a `TokenStore`, refreshed `refresh_margin` before expiry."""

    def __init__(
        self,
        store: TokenStore,
        oauth: OAuthClient,
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._oauth = oauth
        self._margin = timedelta(seconds=refresh_margin)
        self._clock = clock
        self._cache: dict[str, StoredToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"OAuthTokenProvider(store={self._store!r})"

    async def access_token(self, location_id: str) -> str:
        cached = self._cache.get(location_id)
        if cached is not None and cached.fresh(self._clock(), self._margin):
            return cached.access_token.get_secret_value()
        # One coroutine per location per process goes to the store; the rest wait for it.
        async with self._locks.setdefault(location_id, asyncio.Lock()):
            cached = self._cache.get(location_id)
            if cached is not None and cached.fresh(self._clock(), self._margin):
                return cached.access_token.get_secret_value()
            stored = await self._store.load(location_id)
            if stored is not None and stored.fresh(self._clock(), self._margin):
                self._cache[location_id] = stored
                return stored.access_token.get_secret_value()
            return await self._refresh(location_id, rejected=None)

    async def refresh(self, location_id: str, *, rejected: str) -> str:
        async with self._locks.setdefault(location_id, asyncio.Lock()):
            cached = self._cache.get(location_id)
            if (
                cached is not None
                and cached.access_token.get_secret_value() != rejected
                and cached.fresh(self._clock(), timedelta(0))
            ):
                return cached.access_token.get_secret_value()
            return await self._refresh(location_id, rejected=rejected)

    async def _refresh(self, location_id: str, *, rejected: str | None) -> str:
        async with self._store.locked(location_id) as slot:
            current = slot.current
            if current is None:
                raise AuthError(f"no OAuth tokens for location {location_id}; run `ghl-sync auth`")
            now = self._clock()
            if rejected is None:
                done_elsewhere = current.fresh(now, self._margin)
            else:
                done_elsewhere = (
                    current.access_token.get_secret_value() != rejected
                    and current.fresh(now, timedelta(0))
                )
            if done_elsewhere:
                # Another process refreshed while we waited for the lock: use its pair.
                self._cache[location_id] = current
                return current.access_token.get_secret_value()
            if current.refresh_token is None:
                raise AuthError(f"location {location_id} has no refresh token; re-authorise")
            grant = await self._oauth.refresh(current.refresh_token)
            renewed = replace(
                current,
                access_token=grant.access_token,
                refresh_token=grant.refresh_token or current.refresh_token,
                expires_at=grant.expires_at,
                scope=grant.scope or current.scope,
            )
            await slot.replace(renewed)
        # The lock's exit committed the new pair; only now may anyone use it.
        _log.info("refreshed the GHL token of location %s", location_id)
        self._cache[location_id] = renewed
        return renewed.access_token.get_secret_value()
