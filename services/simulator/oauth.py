"""OAuth 2.0 routes: the consent page and the token endpoint (`apps/oauth.json`).

`GET /oauth/chooselocation` (also `/v2/oauth/chooselocation`) takes `response_type=code`,
`client_id`, `redirect_uri`, `scope` (space-separated) and an optional `state`, which is passed
back (UNCONFIRMED whether GHL supports it). Without `approve`, it shows a form: one location
(sub-account user), or the agency with checkboxes for its locations, "all locations" and
"install to future locations". With `approve=true` (simulator extension) it installs the app and
redirects (302) to `redirect_uri?code=...`:

- `locationId=L` (default: the first location) and no `companyId`: a location install; the
  exchange answers a Location token as before (`userType: Location`, `isBulkInstallation:
  false`).
- `companyId=C` (an agency user): a Company grant. `locationIds=a,b` (comma-separated; or
  repeated `locationId`) installs on those; `approveAllLocations=true` on every location of the
  company; neither installs on none (an agency-target app). `installToFutureLocations=true`
  installs on locations created later. The exchange answers `userType: Company`, `companyId`,
  `approvedLocations` (where the app is installed in the company), `isBulkInstallation` (true
  when locations were approved), `installToFutureLocations`, `approveAllLocations`; no
  `locationId`. A location not in the company: 400.

Installing happens at consent, so INSTALL webhooks may arrive before the exchange (see
`agency`).

`POST /oauth/token` takes a form (`application/x-www-form-urlencoded`; JSON is accepted too):
`authorization_code` and `refresh_token` grants; a Company refresh token needs
`user_type=Company` (400 `Invalid grant: refresh token is invalid` otherwise), a location one
`Location` or nothing. Errors: 422
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
from services.simulator.settings import AGENCY_SCOPES, ALL_SCOPES
from services.simulator.tokens import CompanyConsent, TokenError, TokenPair

__all__ = ["bearer_fields", "router", "token_response"]

router = APIRouter()


def bearer_fields(pair: TokenPair) -> dict[str, Any]:
    """The fields every token answer of GHL starts with: the tokens, their life and scopes."""
    return {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "scope": " ".join(sorted(pair.scopes)),
    }


def token_response(rt: Runtime, pair: TokenPair) -> dict[str, Any]:
    """The body GHL answers a token request with (a Company or a location token)."""
    if pair.company is not None:
        consent = pair.company
        return {
            **bearer_fields(pair),
            "userType": "Company",
            "companyId": consent.company_id,
            "userId": rt.settings.user_id,
            "approvedLocations": rt.agency.installed_in(consent.company_id),
            "isBulkInstallation": consent.bulk,
            "installToFutureLocations": rt.agency.install_to_future(consent.company_id),
            "approveAllLocations": consent.approve_all,
        }
    return {
        **bearer_fields(pair),
        "userType": "Location",
        "locationId": pair.location_id,
        "companyId": rt.agency.company_of(pair.location_id) or rt.settings.company_id,
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
    company_id = params.get("companyId")
    default_scopes = " ".join((*ALL_SCOPES, *AGENCY_SCOPES) if company_id else ALL_SCOPES)
    scopes = frozenset((params.get("scope") or default_scopes).split())
    if params.get("approve", "").lower() not in _YES:
        return HTMLResponse(_consent_page(rt, dict(params)))
    if company_id:
        consent = _company_consent(rt, company_id, request)
        rt.agency.consent_company(consent)
        code = rt.tokens.issue_code(
            client_id=rt.settings.client_id,
            redirect_uri=redirect_uri,
            location_id="",
            scopes=scopes,
            company=consent,
        )
    else:
        location_id = params.get("locationId") or next(iter(rt.state.locations), None)
        if location_id not in rt.state.locations:
            raise ApiError(400, "Unknown locationId")
        rt.agency.consent_location(location_id)
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


_YES = ("1", "true", "yes", "on")


def _company_consent(rt: Runtime, company_id: str, request: Request) -> CompanyConsent:
    params = request.query_params
    if company_id not in rt.agency.companies:
        raise ApiError(400, "Unknown companyId")
    own = rt.agency.locations_of(company_id)
    approve_all = params.get("approveAllLocations", "").lower() in _YES
    picked: list[str] = []
    for raw in [*params.getlist("locationIds"), *params.getlist("locationId")]:
        picked += [p for p in raw.split(",") if p]
    foreign = [p for p in picked if p not in own]
    if foreign:
        raise ApiError(400, f"Locations not in company {company_id}: {', '.join(foreign)}")
    approved = own if approve_all else list(dict.fromkeys(picked))
    return CompanyConsent(
        company_id=company_id,
        approved_locations=tuple(approved),
        bulk=bool(approved),
        approve_all=approve_all,
        install_to_future=params.get("installToFutureLocations", "").lower() in _YES,
    )


def _consent_page(rt: Runtime, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("approve", "locationId", "companyId", "locationIds")
        and k not in ("approveAllLocations", "installToFutureLocations")
    )
    options = "".join(
        f'<label><input type="radio" name="locationId" value="{html.escape(loc.id)}"'
        f"{' checked' if i == 0 else ''}> {html.escape(loc.name)} ({html.escape(loc.id)})"
        "</label><br>"
        for i, loc in enumerate(rt.state.locations.values())
    )
    scopes = html.escape(params.get("scope", "all scopes"))
    agencies = "".join(_agency_form(rt, company_id, hidden) for company_id in rt.agency.companies)
    return (
        "<!doctype html><title>GHL simulator: choose a location</title>"
        f"<h1>Install {html.escape(rt.settings.client_id)}</h1><p>Scopes: {scopes}</p>"
        f'<h2>As a sub-account user</h2><form method="get">{hidden}{options}'
        '<input type="hidden" name="approve" value="true"><button type="submit">Approve</button>'
        f"</form>{agencies}"
    )


def _agency_form(rt: Runtime, company_id: str, hidden: str) -> str:
    company = rt.agency.companies[company_id]
    boxes = "".join(
        f'<label><input type="checkbox" name="locationId" value="{html.escape(loc)}"> '
        f"{html.escape(rt.state.locations[loc].name)} ({html.escape(loc)})</label><br>"
        for loc in rt.agency.locations_of(company_id)
    )
    return (
        f"<h2>As an agency user of {html.escape(company.name)}</h2>"
        f'<form method="get">{hidden}'
        f'<input type="hidden" name="companyId" value="{html.escape(company_id)}">{boxes}'
        '<label><input type="checkbox" name="approveAllLocations" value="true"> '
        "All locations</label><br>"
        '<label><input type="checkbox" name="installToFutureLocations" value="true"> '
        "Install to future locations</label><br>"
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
    user_type = form.get("user_type") or None
    if user_type not in (None, "Location", "Company"):
        raise ApiError(400, "Invalid parameter: user_type")
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
            pair = rt.tokens.refresh(form["refresh_token"], user_type=user_type)
    except TokenError as exc:
        raise ApiError(400, str(exc)) from exc
    return token_response(rt, pair)
