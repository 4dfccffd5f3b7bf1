"""OAuth 2.0 routes: the consent page and the token endpoint (`apps/oauth.json`).

`GET /oauth/chooselocation` (also `/v2/oauth/chooselocation`) takes `response_type=code`,
`client_id`, `redirect_uri`, `scope` (space-separated) and an optional `state`, which is passed
back (UNCONFIRMED whether GHL supports it). Without `approve`, it shows a form listing the
locations; with `approve=true` (simulator extension; optional `locationId`, default the first
location) it redirects (302) to `redirect_uri?code=...`.

`POST /oauth/token` takes a form (`application/x-www-form-urlencoded`; JSON is accepted too):
`authorization_code` and `refresh_token` grants for location tokens. Errors: 422
`["client_id should not be empty", ...]` for missing fields, 400 `Invalid parameter:
grant_type`, 401 `Invalid client: client credentials are invalid` (UNCONFIRMED message), 400
`Invalid grant: ...` for a bad, used or expired code or refresh token. Refresh-token reuse
policy: see `tokens`. No Version header is required here (the spec declares none).
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.simulator._errors import ApiError
from services.simulator.runtime import Runtime, runtime
from services.simulator.settings import ALL_SCOPES
from services.simulator.tokens import TokenError, TokenPair

__all__ = ["router", "token_response"]

router = APIRouter()


def token_response(rt: Runtime, pair: TokenPair) -> dict[str, Any]:
    """The body GHL answers a token request with (location token)."""
    return {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "scope": " ".join(sorted(pair.scopes)),
        "userType": "Location",
        "locationId": pair.location_id,
        "companyId": rt.settings.company_id,
        "userId": rt.settings.user_id,
        "isBulkInstallation": False,
    }


@router.get("/oauth/chooselocation", response_model=None)
@router.get("/v2/oauth/chooselocation", response_model=None)
async def choose_location(request: Request) -> HTMLResponse | RedirectResponse:
    """The consent page: a form, or an immediate redirect with `approve=true`."""
    rt = runtime(request)
    params = request.query_params
    if params.get("client_id") != rt.settings.client_id:
        raise ApiError(400, "Invalid client_id")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri or params.get("response_type", "code") != "code":
        raise ApiError(400, "redirect_uri and response_type=code are required")
    scopes = frozenset((params.get("scope") or " ".join(ALL_SCOPES)).split())
    if params.get("approve", "").lower() not in ("1", "true", "yes"):
        return HTMLResponse(_consent_page(rt, dict(params)))
    location_id = params.get("locationId") or next(iter(rt.state.locations), None)
    if location_id not in rt.state.locations:
        raise ApiError(400, "Unknown locationId")
    code = rt.tokens.issue_code(
        client_id=rt.settings.client_id,
        redirect_uri=redirect_uri,
        location_id=location_id,
        scopes=scopes,
    )
    query = {"code": code}
    if params.get("state") is not None:
        query["state"] = params["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)


def _consent_page(rt: Runtime, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("approve", "locationId")
    )
    options = "".join(
        f'<label><input type="radio" name="locationId" value="{html.escape(loc.id)}"'
        f"{' checked' if i == 0 else ''}> {html.escape(loc.name)} ({html.escape(loc.id)})"
        "</label><br>"
        for i, loc in enumerate(rt.state.locations.values())
    )
    scopes = html.escape(params.get("scope", "all scopes"))
    return (
        "<!doctype html><title>GHL simulator: choose a location</title>"
        f"<h1>Install {html.escape(rt.settings.client_id)}</h1><p>Scopes: {scopes}</p>"
        f'<form method="get">{hidden}{options}'
        '<input type="hidden" name="approve" value="true"><button type="submit">Approve</button>'
        "</form>"
    )


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ApiError(400, "Unexpected token in JSON body") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


@router.post("/oauth/token")
async def token(request: Request) -> dict[str, Any]:
    """`get-access-token`: exchange a code or a refresh token."""
    rt = runtime(request)
    form = await _form(request)
    missing = [k for k in ("client_id", "client_secret", "grant_type") if not form.get(k)]
    if missing:
        raise ApiError(422, [f"{k} should not be empty" for k in missing])
    grant_type = form["grant_type"]
    if grant_type not in ("authorization_code", "refresh_token"):
        raise ApiError(400, "Invalid parameter: grant_type")
    secret_ok = secrets.compare_digest(
        form["client_secret"].encode(), rt.settings.client_secret.get_secret_value().encode()
    )
    if form["client_id"] != rt.settings.client_id or not secret_ok:
        raise ApiError(401, "Invalid client: client credentials are invalid")
    if form.get("user_type", "Location") != "Location":
        raise ApiError(400, "Invalid parameter: user_type (only Location is simulated)")
    try:
        if grant_type == "authorization_code":
            if not form.get("code"):
                raise ApiError(422, ["code should not be empty"])
            pair = rt.tokens.exchange_code(
                form["code"], client_id=form["client_id"], redirect_uri=form.get("redirect_uri")
            )
        else:
            if not form.get("refresh_token"):
                raise ApiError(422, ["refresh_token should not be empty"])
            pair = rt.tokens.refresh(form["refresh_token"])
    except TokenError as exc:
        raise ApiError(400, str(exc)) from exc
    return token_response(rt, pair)
