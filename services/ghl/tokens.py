"""Where access tokens come from: `TokenProvider` and its implementations.

    StaticTokenProvider     Private Integration Tokens (or any fixed token): no refresh
    OAuthTokenProvider      OAuth pairs kept in a `TokenStore`, refreshed before expiry; one
                            refresh per location at a time, across every process
    CompanyMinter           agency installs: location tokens minted from the agency's Company
                            token (itself an `OAuthTokenProvider` over the company store)

Refresh tokens are single-use. Two processes spending the same one lock the location out, so a
refresh runs under the store's per-location lock (a row lock in PostgreSQL), re-reads the pair
under it (another process may have refreshed meanwhile), and commits the new pair before the
new access token is handed to anyone.

Agency installs. The Company token is the root credential, kept and refreshed exactly like a
location pair (its own store, keyed by company id, `user_type=Company`). A location token is
minted from it (`POST /oauth/locationToken`) lazily, under the location's lock: on first use
(no stored pair), on INSTALL (`mint`), and when the location's own refresh is refused (the
official SDKs' fallback). A minted token carries its own refresh token and is then refreshed
like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import SecretStr

from schemas.ghl_errors import AuthError
from services.ghl._oauth import OAuthClient, TokenGrant

__all__ = [
    "CompanyMinter",
    "InMemoryTokenStore",
    "LocationMinter",
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
        """The pair a token endpoint answer carries (a Company grant: keyed by the company id,
        `user_type` `Company`; keep it in the company store)."""
        where: str | None
        if grant.is_company and location_id is None:
            if not grant.company_id:
                raise AuthError("company token answer names no company")
            where, user_type = grant.company_id, "Company"
        else:
            where, user_type = location_id or grant.location_id, grant.user_type or "Location"
        if not where:
            raise AuthError("token answer names no location; pass location_id")
        return cls(
            location_id=where,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scope=grant.scope,
            company_id=grant.company_id,
            user_type=user_type,
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

    async def delete(self, location_id: str) -> bool:
        """Forget a pair (an UNINSTALL: GHL revoked it); True if there was one."""
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

    async def delete(self, location_id: str) -> bool:
        return self._tokens.pop(location_id, None) is not None

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


class LocationMinter(Protocol):
    """Makes a new location token from a parent credential (the agency's Company token)."""

    async def mint(self, location_id: str) -> StoredToken | None:
        """A new pair for `location_id`, or None when no parent credential covers it."""
        ...


class OAuthTokenProvider:
    """OAuth access tokens from a `TokenStore`, refreshed `refresh_margin` before expiry.

    With a `minter`, a location with no stored pair, or whose refresh GHL refuses, gets a
    token minted from its agency's Company token instead of failing."""

    def __init__(
        self,
        store: TokenStore,
        oauth: OAuthClient,
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        minter: LocationMinter | None = None,
    ) -> None:
        self._store = store
        self._oauth = oauth
        self._margin = timedelta(seconds=refresh_margin)
        self._clock = clock
        self._minter = minter
        self._cache: dict[str, StoredToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, location_id: str) -> None:
        """Drop this process's cached token of a location (after an UNINSTALL)."""
        self._cache.pop(location_id, None)

    async def save(self, token: StoredToken) -> None:
        """Store a pair the code exchange gave, in place of the stored and the cached one."""
        await self._store.save(token)
        self.forget(token.location_id)

    async def delete(self, location_id: str) -> None:
        """Delete the location's stored pair and the cached one (an UNINSTALL)."""
        await self._store.delete(location_id)
        self.forget(location_id)

    async def holds(self, location_id: str) -> bool:
        """A pair is stored for the location (fresh or not)."""
        return await self._store.load(location_id) is not None

    async def mint(self, location_id: str) -> StoredToken:
        """Mint and store a fresh location token now (an INSTALL), whatever is stored."""
        async with self._locks.setdefault(location_id, asyncio.Lock()):
            minted = await self._mint(location_id)
            async with self._store.locked(location_id) as slot:
                await slot.replace(minted)
            self._cache[location_id] = minted
            return minted

    async def _mint(self, location_id: str, cause: AuthError | None = None) -> StoredToken:
        # Called with no store lock held: minting reads the installation and the company
        # token, which takes connections of its own.
        minted = await self._minter.mint(location_id) if self._minter is not None else None
        if minted is None:
            if cause is not None:
                raise cause
            raise AuthError(
                f"no OAuth tokens for location {location_id} and no authorised company "
                "installation to mint one from; run `ghl-sync auth`"
            )
        return minted

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
            before = slot.current
            renewed = None
            cause: AuthError | None = None
            if before is not None:
                renewed, cause = await self._renew(location_id, slot, before, rejected=rejected)
        if renewed is None:
            # No pair, no refresh token, or GHL refused the refresh (the official SDKs'
            # fallback): mint a new token from the company token, outside the lock, then
            # store it unless another process stored a usable pair meanwhile.
            minted = await self._mint(location_id, cause)
            async with self._store.locked(location_id) as slot:
                now = self._clock()
                other = slot.current
                if other is not None and other != before and other.fresh(now, timedelta(0)):
                    renewed = other
                else:
                    await slot.replace(minted)
                    renewed = minted
            if cause is not None:
                _log.warning(
                    "refresh of location %s refused (%s); minted a new token from its company",
                    location_id,
                    cause,
                )
            else:
                _log.info("minted a GHL token for location %s", location_id)
        # The lock's exit committed the new pair; only now may anyone use it.
        self._cache[location_id] = renewed
        return renewed.access_token.get_secret_value()

    async def _renew(
        self, location_id: str, slot: TokenSlot, current: StoredToken, *, rejected: str | None
    ) -> tuple[StoredToken | None, AuthError | None]:
        """The renewed pair, or (None, why) when it must be minted instead."""
        now = self._clock()
        if rejected is None:
            done_elsewhere = current.fresh(now, self._margin)
        else:
            done_elsewhere = current.access_token.get_secret_value() != rejected and current.fresh(
                now, timedelta(0)
            )
        if done_elsewhere:
            # Another process refreshed while we waited for the lock: use its pair.
            return current, None
        if current.refresh_token is None:
            why = AuthError(f"location {location_id} has no refresh token; re-authorise")
            if self._minter is None or current.user_type == "Company":
                raise why
            return None, why
        try:
            grant = await self._oauth.refresh(current.refresh_token, user_type=current.user_type)
        except AuthError as exc:
            # A Company token has no parent to mint from; nor has a provider without minter.
            if self._minter is None or current.user_type == "Company":
                raise
            return None, exc
        renewed = replace(
            current,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token or current.refresh_token,
            expires_at=grant.expires_at,
            scope=grant.scope or current.scope,
        )
        await slot.replace(renewed)
        _log.info("refreshed the GHL token of %s %s", current.user_type.lower(), location_id)
        return renewed, None


class CompanyMinter:
    """Mints location tokens from the agency's Company token (`POST /oauth/locationToken`).

    `company_of(location_id)` names the company the location is installed under and that holds
    a Company token, or None (not installed, uninstalled, or a company that never authorised
    the app): then nothing is minted. `companies` is the provider of Company tokens; a 401 on
    the mint refreshes the company token once (serialised like any refresh) and retries.
    """

    def __init__(
        self,
        companies: OAuthTokenProvider,
        oauth: OAuthClient,
        company_of: Callable[[str], Awaitable[str | None]],
    ) -> None:
        self._companies = companies
        self._oauth = oauth
        self._company_of = company_of
        self.minted = 0

    def __repr__(self) -> str:
        return f"CompanyMinter(minted={self.minted})"

    async def mint(self, location_id: str) -> StoredToken | None:
        company = await self._company_of(location_id)
        if company is None:
            return None
        token = await self._companies.access_token(company)
        try:
            grant = await self._oauth.location_token(
                token, company_id=company, location_id=location_id
            )
        except AuthError as exc:
            if exc.status_code != 401:
                raise
            token = await self._companies.refresh(company, rejected=token)
            grant = await self._oauth.location_token(
                token, company_id=company, location_id=location_id
            )
        self.minted += 1
        return replace(
            StoredToken.from_grant(grant, location_id=location_id),
            company_id=company,
            user_type="Location",
        )
