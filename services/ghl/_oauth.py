"""OAuth 2.0 with GHL: the consent URL, the code exchange, the refresh grant, and the two
agency calls made with a Company token (`POST /oauth/locationToken`,
`GET /oauth/installedLocations`).

`POST /oauth/token` takes a form body and no `Version` header. Refresh tokens rotate: every
refresh answer carries a new one and the old one is dead, so callers must store the new pair
before using it (`OAuthTokenProvider` does). Company tokens refresh the same way, with
`user_type=Company`.

The agency calls carry `Version: 2021-07-28`. When given a `RateLimiter`, they book a slot of
the company's own budget (the limiter's key is the company id: GHL meters a company as a
resource of its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from schemas.ghl_errors import AuthError, RateLimited, ServerError, TransportError
from services.ghl._http import new_http_client
from services.ghl._ratelimit import Priority, RateLimiter, RateLimitHeaders
from services.ghl.settings import GhlSettings

__all__ = ["InstalledLocation", "InstalledPage", "OAuthClient", "TokenGrant"]

_log = logging.getLogger("services.ghl.oauth")
_TOKEN_PATH = "/oauth/token"
_LOCATION_TOKEN_PATH = "/oauth/locationToken"
_INSTALLED_PATH = "/oauth/installedLocations"
_AGENCY_VERSION = "2021-07-28"


class TokenGrant(BaseModel):
    """What the token endpoint answered; secrets stay masked in repr and logs."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_at: datetime
    scope: str = ""
    location_id: str | None = None
    company_id: str | None = None
    user_type: str | None = None
    user_id: str | None = None
    is_bulk_installation: bool = False
    approved_locations: tuple[str, ...] = ()
    install_to_future_locations: bool = False
    approve_all_locations: bool = False

    @property
    def is_company(self) -> bool:
        """An agency's token (no location): mint location tokens from it."""
        return (self.user_type or "").lower() == "company" or (
            not self.location_id and bool(self.company_id)
        )


class InstalledLocation(BaseModel):
    """One row of `GET /oauth/installedLocations`."""

    model_config = ConfigDict(frozen=True)

    location_id: str
    name: str | None = None
    is_installed: bool = True


class InstalledPage(BaseModel):
    """One page of `GET /oauth/installedLocations`; `count` is GHL's total under the company."""

    model_config = ConfigDict(frozen=True)

    locations: tuple[InstalledLocation, ...]
    count: int | None = None
    install_to_future_locations: bool | None = None


class OAuthClient:
    """Talks to GHL's authorization server for one Marketplace app."""

    def __init__(
        self,
        settings: GhlSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._http = new_http_client(settings, transport=transport)
        self._limiter = rate_limiter

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self._settings.client_id!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def consent_url(self, *, state: str | None = None) -> str:
        """The page where a user picks the location and approves the app's scopes."""
        query = {
            "response_type": "code",
            "client_id": self._settings.client_id,
            "redirect_uri": self._settings.redirect_uri,
            "scope": " ".join(self._settings.scope_list),
        }
        if state:
            query["state"] = state
        return f"{self._settings.authorize_url}?{urlencode(query)}"

    async def exchange_code(self, code: str) -> TokenGrant:
        """Trade the `?code=` of the redirect for the first token pair."""
        return await self._grant(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._settings.redirect_uri,
            }
        )

    async def refresh(
        self, refresh_token: SecretStr, *, user_type: str | None = None
    ) -> TokenGrant:
        """Spend `refresh_token` (single-use) for a new pair; `user_type` is the token's own
        (`Location` or `Company`), the settings' by default."""
        fields = {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        if user_type:
            fields["user_type"] = user_type
        return await self._grant(fields)

    async def location_token(
        self, company_token: str, *, company_id: str, location_id: str
    ) -> TokenGrant:
        """Mint a location token from the agency's Company token (`oauth.write`)."""
        label = f"POST {_LOCATION_TOKEN_PATH}"
        asked_at = datetime.now(UTC)
        response = await self._agency_call(
            "POST",
            _LOCATION_TOKEN_PATH,
            company_token,
            company_id=company_id,
            data={"companyId": company_id, "locationId": location_id},
        )
        body = _token_body(response, label)
        grant = _grant_of(body, asked_at)
        if grant.location_id and grant.location_id != location_id:
            raise AuthError(
                f"locationToken answered for location {grant.location_id}, not {location_id}",
                operation=label,
            )
        _log.info("GHL minted a location token: company=%s location=%s", company_id, location_id)
        return grant.model_copy(
            update={"location_id": location_id, "company_id": grant.company_id or company_id}
        )

    async def installed_locations(
        self,
        company_token: str,
        *,
        company_id: str,
        app_id: str,
        skip: int = 0,
        limit: int = 20,
        is_installed: bool | None = True,
    ) -> InstalledPage:
        """One page of the locations where the app is installed (`oauth.readonly`)."""
        params: dict[str, str] = {
            "companyId": company_id,
            "appId": app_id,
            "skip": str(skip),
            "limit": str(limit),
        }
        if is_installed is not None:
            params["isInstalled"] = "true" if is_installed else "false"
        label = f"GET {_INSTALLED_PATH}"
        response = await self._agency_call(
            "GET", _INSTALLED_PATH, company_token, company_id=company_id, params=params
        )
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise AuthError("installedLocations answer is not JSON", operation=label) from exc
        if not isinstance(body, dict) or not isinstance(body.get("locations"), list):
            raise AuthError("installedLocations answer lacks `locations`", operation=label)
        rows: list[InstalledLocation] = []
        for item in body["locations"]:
            if not isinstance(item, dict):
                continue
            where = item.get("_id") or item.get("id") or item.get("locationId")
            if not isinstance(where, str) or not where:
                continue
            installed = item.get("isInstalled")
            rows.append(
                InstalledLocation(
                    location_id=where,
                    name=item.get("name") if isinstance(item.get("name"), str) else None,
                    is_installed=bool(installed) if installed is not None else True,
                )
            )
        count = body.get("count")
        future = body.get("installToFutureLocations")
        return InstalledPage(
            locations=tuple(rows),
            count=int(count) if isinstance(count, int | float) else None,
            install_to_future_locations=bool(future) if future is not None else None,
        )

    async def iter_installed_locations(
        self, company_token: str, *, company_id: str, app_id: str, page_size: int = 20
    ) -> AsyncIterator[InstalledLocation]:
        """Every location where the app is installed, page by page (`skip`/`limit`)."""
        skip = 0
        while True:
            page = await self.installed_locations(
                company_token, company_id=company_id, app_id=app_id, skip=skip, limit=page_size
            )
            for row in page.locations:
                yield row
            if len(page.locations) < page_size:
                return
            skip += len(page.locations)

    async def _agency_call(
        self,
        method: str,
        path: str,
        company_token: str,
        *,
        company_id: str,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        label = f"{method} {path}"
        rate_retries = 0
        while True:
            permit = None
            if self._limiter is not None:
                permit = await self._limiter.acquire(company_id, Priority.WRITE)
            try:
                response = await self._http.request(
                    method,
                    path,
                    data=data,
                    params=params,
                    headers={
                        "Authorization": f"Bearer {company_token}",
                        "Version": _AGENCY_VERSION,
                    },
                )
            except httpx.HTTPError as exc:
                raise TransportError(
                    f"{path} unreachable: {type(exc).__name__}", operation=label
                ) from exc
            headers = RateLimitHeaders.parse(response.headers)
            if permit is not None and headers is not None and self._limiter is not None:
                await self._limiter.observe(permit, headers)
            status = response.status_code
            if status == 429 and rate_retries < self._settings.max_rate_limit_retries:
                rate_retries += 1
                wait = self._settings.default_retry_after
                if self._limiter is not None:
                    await self._limiter.penalize(company_id, wait)
                else:
                    await asyncio.sleep(wait)
                continue
            if status >= 500:
                raise ServerError(f"{path} failed", operation=label, status_code=status)
            if status == 429:
                raise RateLimited(
                    "company budget exhausted",
                    retry_after=self._settings.default_retry_after,
                    operation=label,
                    status_code=status,
                )
            if status >= 400:
                raise AuthError(_message(response), operation=label, status_code=status)
            return response

    async def _grant(self, fields: dict[str, str]) -> TokenGrant:
        form = {
            "client_id": self._settings.client_id,
            "client_secret": self._settings.client_secret.get_secret_value(),
            "user_type": self._settings.user_type,
            **fields,
        }
        grant_type = fields["grant_type"]
        label = f"POST {_TOKEN_PATH} ({grant_type})"
        asked_at = datetime.now(UTC)
        try:
            response = await self._http.post(_TOKEN_PATH, data=form)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"token endpoint unreachable: {type(exc).__name__}", operation=label
            ) from exc
        if response.status_code >= 500:
            raise ServerError(
                "token endpoint failed", operation=label, status_code=response.status_code
            )
        if response.status_code >= 400:
            raise AuthError(_message(response), operation=label, status_code=response.status_code)
        body = _token_body(response, label)
        where = body.get("locationId") or f"(company {body.get('companyId')})"
        _log.info("GHL %s grant for location %s", grant_type, where)
        return _grant_of(body, asked_at)


def _token_body(response: httpx.Response, label: str) -> dict[str, Any]:
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise AuthError("token answer is not JSON", operation=label) from exc
    if isinstance(body, dict) and not body.get("access_token") and body.get("accessToken"):
        body = _snake(body)  # the v3 shape: camelCase names
    if not isinstance(body, dict) or not body.get("access_token"):
        raise AuthError("token answer lacks access_token", operation=label)
    return body


def _snake(body: dict[str, Any]) -> dict[str, Any]:
    renamed = {"accessToken": "access_token", "refreshToken": "refresh_token",
               "expiresIn": "expires_in", "tokenType": "token_type"}  # fmt: skip
    return {renamed.get(k, k): v for k, v in body.items()}


def _grant_of(body: dict[str, Any], asked_at: datetime) -> TokenGrant:
    refresh = body.get("refresh_token") or body.get("refreshToken")
    approved = body.get("approvedLocations")
    return TokenGrant(
        access_token=SecretStr(str(body["access_token"])),
        refresh_token=SecretStr(str(refresh)) if refresh else None,
        expires_at=asked_at + timedelta(seconds=float(body.get("expires_in") or 86399)),
        scope=str(body.get("scope") or ""),
        location_id=body.get("locationId") or None,
        company_id=body.get("companyId") or None,
        user_type=body.get("userType"),
        user_id=body.get("userId"),
        is_bulk_installation=bool(body.get("isBulkInstallation")),
        approved_locations=tuple(str(x) for x in approved) if isinstance(approved, list) else (),
        install_to_future_locations=bool(body.get("installToFutureLocations")),
        approve_all_locations=bool(body.get("approveAllLocations")),
    )


def _message(response: httpx.Response) -> str:
    # GHL's OAuth errors are `{error, error_description}` or `{message}`; neither echoes the
    # submitted secrets, but only these named fields are ever shown.
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "token request refused"
    if not isinstance(body, dict):
        return "token request refused"
    parts = [str(body[k]) for k in ("error", "error_description", "message") if body.get(k)]
    return ": ".join(parts) or "token request refused"
