"""OAuth 2.0 with GHL: the consent URL, the code exchange and the refresh grant.

`POST /oauth/token` takes a form body and no `Version` header. Refresh tokens rotate: every
refresh answer carries a new one and the old one is dead, so callers must store the new pair
before using it (`OAuthTokenProvider` does).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from services.ghl._exceptions import AuthError, ServerError, TransportError
from services.ghl._http import new_http_client
from services.ghl.settings import GhlSettings

__all__ = ["OAuthClient", "TokenGrant"]

_log = logging.getLogger("services.ghl.oauth")
_TOKEN_PATH = "/oauth/token"


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


class OAuthClient:
    """Talks to GHL's authorization server for one Marketplace app."""

    def __init__(
        self, settings: GhlSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        self._http = new_http_client(settings, transport=transport)

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

    async def refresh(self, refresh_token: SecretStr) -> TokenGrant:
        """Spend `refresh_token` (single-use) for a new pair."""
        return await self._grant(
            {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        )

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
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise AuthError("token answer is not JSON", operation=label) from exc
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError("token answer lacks access_token", operation=label)
        _log.info("GHL %s grant for location %s", grant_type, body.get("locationId") or "(company)")
        refresh = body.get("refresh_token")
        return TokenGrant(
            access_token=SecretStr(str(body["access_token"])),
            refresh_token=SecretStr(str(refresh)) if refresh else None,
            expires_at=asked_at + timedelta(seconds=float(body.get("expires_in") or 86399)),
            scope=str(body.get("scope") or ""),
            location_id=body.get("locationId"),
            company_id=body.get("companyId"),
            user_type=body.get("userType"),
            user_id=body.get("userId"),
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
