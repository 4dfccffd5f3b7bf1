"""OAuth codes, access tokens and single-use rotating refresh tokens, plus configured PITs.

Tokens are opaque random strings (real GHL access tokens are JWTs; nothing should parse them).
Every refresh token belongs to a *family* started by one authorization-code exchange; each
refresh spends the presented token and issues the next one of the family.

UNCONFIRMED choices:

- Reusing a spent refresh token answers 400 `Invalid grant: refresh token is invalid` and, when
  `refresh_reuse_revokes_family` is on (the default), also revokes the family's live refresh
  token, so the location is locked out until re-authorised (reuse detection as in the OAuth
  security BCP). Access tokens already issued stay valid until they expire.
- Company (agency) tokens: a code approved for a company yields a Company token family
  (`refresh` requires `user_type=Company` for it, and refuses a Company refresh token presented
  as a Location one and the other way round: 400 `Invalid grant: refresh token is invalid`).
  Company grants carry no location; their requests are metered on the company's budget.
- A location token minted from a Company token (`POST /oauth/locationToken`) starts a family of
  its own: each mint is independent, earlier mints stay valid until they expire or rotate.
- Uninstalling the app from a location revokes every access and refresh token of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict, Unpack

from services.simulator.settings import SimulatorSettings

__all__ = [
    "AccessGrant",
    "AuthCode",
    "CompanyConsent",
    "TokenError",
    "TokenPair",
    "TokenStore",
]


class TokenError(Exception):
    """A code or refresh token that cannot be exchanged; the message is GHL's."""


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What a bearer token may do: one location (or company), some scopes, until `expires_at`."""

    location_id: str
    """The token's location; empty for a Company token."""
    scopes: frozenset[str]
    budget: str
    """Rate-limit budget owner: the OAuth app's client id, or `pit:<location>`."""
    expires_at: datetime | None = None
    user_type: str = "Location"
    company_id: str | None = None


@dataclass(frozen=True, slots=True)
class CompanyConsent:
    """What an agency user approved on the consent page."""

    company_id: str
    approved_locations: tuple[str, ...] = ()
    bulk: bool = False
    approve_all: bool = False
    install_to_future: bool = False


@dataclass(frozen=True, slots=True)
class AuthCode:
    """An authorization code handed out by the consent page."""

    client_id: str
    redirect_uri: str
    location_id: str
    scopes: frozenset[str]
    expires_at: datetime
    company: CompanyConsent | None = None
    """Set for a Company grant (then `location_id` is empty)."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A freshly issued access and refresh token."""

    access_token: str
    refresh_token: str
    expires_in: int
    location_id: str
    scopes: frozenset[str]
    company: CompanyConsent | None = None
    """The consent of a Company token family (None: a location token)."""


@dataclass(slots=True)
class _Refresh:
    family: str
    location_id: str
    scopes: frozenset[str]
    expires_at: datetime
    spent: bool = False
    company: CompanyConsent | None = None


class _PairOptions(TypedDict, total=False):
    """How a new token pair is minted, besides its location and scopes."""

    family: str | None
    """The refresh family the pair continues; None starts a new one."""
    expires_in: int | None
    """The access token's lifetime in seconds; None is the configured one."""


@dataclass
class TokenStore:
    """Every credential the simulator has issued; never dumped, never logged."""

    settings: SimulatorSettings
    clock: Callable[[], datetime]
    _access: dict[str, AccessGrant] = field(default_factory=dict)
    _codes: dict[str, AuthCode] = field(default_factory=dict)
    _refresh: dict[str, _Refresh] = field(default_factory=dict)
    _live: dict[str, str] = field(default_factory=dict)
    """Family -> its current (unspent) refresh token."""

    def __post_init__(self) -> None:
        for pit in self.settings.private_integration_tokens:
            self._access[pit.token.get_secret_value()] = AccessGrant(
                location_id=pit.location_id,
                scopes=frozenset(pit.scopes),
                budget=f"pit:{pit.location_id}",
            )

    def lookup(self, token: str) -> AccessGrant | None:
        """The grant of a live access token or PIT, else None (unknown or expired)."""
        grant = self._access.get(token)
        if grant is None:
            return None
        if grant.expires_at is not None and grant.expires_at <= self.clock():
            del self._access[token]
            return None
        return grant

    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        location_id: str,
        scopes: frozenset[str],
        company: CompanyConsent | None = None,
    ) -> str:
        """A single-use authorization code (a Company grant when `company` is given)."""
        code = secrets.token_hex(20)
        ttl = timedelta(seconds=self.settings.authorization_code_ttl_seconds)
        self._codes[code] = AuthCode(
            client_id, redirect_uri, location_id, scopes, self.clock() + ttl, company
        )
        return code

    def exchange_code(self, code: str, *, client_id: str, redirect_uri: str | None) -> TokenPair:
        """Spend a code for a new token family."""
        grant = self._codes.pop(code, None)
        if grant is None or grant.expires_at <= self.clock() or grant.client_id != client_id:
            raise TokenError("Invalid grant: authorization code is invalid")
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            raise TokenError("Invalid grant: redirect_uri does not match")
        if grant.company is not None:
            return self.mint_company(grant.company, grant.scopes)
        return self.mint(grant.location_id, grant.scopes)

    def mint(
        self, location_id: str, scopes: frozenset[str], **options: Unpack[_PairOptions]
    ) -> TokenPair:
        """Issue an access token and the next refresh token of `family` (new family if None)."""
        return self._issue(location_id, scopes, **options)

    def mint_company(
        self, company: CompanyConsent, scopes: frozenset[str], **options: Unpack[_PairOptions]
    ) -> TokenPair:
        """Issue a Company access token and the next refresh token of its family."""
        return self._issue("", scopes, company=company, **options)

    def _issue(
        self,
        location_id: str,
        scopes: frozenset[str],
        *,
        family: str | None = None,
        expires_in: int | None = None,
        company: CompanyConsent | None = None,
    ) -> TokenPair:
        now = self.clock()
        expires_in = expires_in or self.settings.access_token_ttl_seconds
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        family = family or secrets.token_hex(8)
        self._access[access] = AccessGrant(
            location_id=location_id,
            scopes=scopes,
            budget=self.settings.client_id,
            expires_at=now + timedelta(seconds=expires_in),
            user_type="Location" if company is None else "Company",
            company_id=None if company is None else company.company_id,
        )
        self._refresh[refresh] = _Refresh(
            family=family,
            location_id=location_id,
            scopes=scopes,
            expires_at=now + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
            company=company,
        )
        self._live[family] = refresh
        return TokenPair(access, refresh, expires_in, location_id, scopes, company)

    def revoke_location(self, location_id: str) -> int:
        """Invalidate every access and refresh token of a location (app uninstalled)."""
        gone = [t for t, g in self._access.items() if g.location_id == location_id]
        for token in gone:
            del self._access[token]
        for record in self._refresh.values():
            if record.location_id == location_id and not record.spent:
                record.spent = True
                self._live.pop(record.family, None)
        return len(gone)

    def revoke_company(self, company_id: str) -> None:
        """Invalidate every Company token of a company (app uninstalled from the agency)."""
        for token in [t for t, g in self._access.items() if g.company_id == company_id]:
            if self._access[token].user_type == "Company":
                del self._access[token]
        for record in self._refresh.values():
            if record.company is not None and record.company.company_id == company_id:
                record.spent = True
                self._live.pop(record.family, None)

    def refresh(self, token: str, *, user_type: str | None = None) -> TokenPair:
        """Spend a refresh token for the next pair of its family.

        `user_type` is the form's: a Company refresh token needs `Company`; a location one
        takes `Location` or nothing.
        """
        record = self._refresh.get(token)
        invalid = TokenError("Invalid grant: refresh token is invalid")
        if record is None or record.expires_at <= self.clock():
            raise invalid
        wanted = "Company" if record.company is not None else "Location"
        if (user_type or "Location") != wanted:
            raise invalid
        if record.spent or self._live.get(record.family) != token:
            if self.settings.refresh_reuse_revokes_family:
                live = self._live.pop(record.family, None)
                if live is not None:
                    self._refresh[live].spent = True
            raise invalid
        record.spent = True
        if record.company is not None:
            return self.mint_company(record.company, record.scopes, family=record.family)
        return self.mint(record.location_id, record.scopes, family=record.family)
