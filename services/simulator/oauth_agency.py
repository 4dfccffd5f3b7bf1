"""Agency-only OAuth routes (`apps/oauth.json`, security `Agency-Access-Only`):
`POST /oauth/locationToken` and `GET /oauth/installedLocations`.

Both want `Version: 2021-07-28` and a Company access token; each call counts against the
company's own rate budget (100 / 10 s, 200,000 / day, as a location's), with the same
`X-RateLimit-*` headers. Checks in order: Version, token, rate limit, token type, scope.

- `POST /oauth/locationToken` (`oauth.write`), form (or JSON) `companyId`, `locationId`:
  a location access token with its own rotating refresh token (v3 documents `refreshToken`;
  ISSUES #285), `userType: Location`, `locationId`, `companyId`, `userId`, `appId`,
  `versionId`, `scope` (the Company token's scopes without `oauth.*`). Each mint is a new token
  family.
- `GET /oauth/installedLocations` (`oauth.readonly`): query `companyId`*, `appId`*, `skip`,
  `limit` (strings, default "0"/"20", limit at most 500), `query` (name contains), `isInstalled`
  (true/false), `locationId`; `versionId`, `onTrial`, `planId` are accepted (no simulated app is
  on trial or on a plan, so `onTrial=true` or a `planId` match nothing). Answers `{locations:
  [InstalledLocationSchema], count, installToFutureLocations}` in location creation order;
  `count` is the total number of locations under the company, as the spec describes it.

UNCONFIRMED messages and codes: a Location token or PIT here: 401 `This authClass type is not
allowed to access this scope.`; another company's id: 403 `The token does not have access to
this company.`; a location outside the company: 400 `Location not found in company`; the app
not installed there: 400 `App is not installed on this location`; a wrong `appId`: 400
`App not found`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.simulator._errors import ApiError
from services.simulator.auth import CONTACTS_VERSION, bearer_token, check_version
from services.simulator.oauth import _form, bearer_fields
from services.simulator.runtime import Runtime, runtime
from services.simulator.settings import AGENCY_SCOPES
from services.simulator.tokens import AccessGrant

__all__ = ["router"]

router = APIRouter()
_NOT_AGENCY = "This authClass type is not allowed to access this scope."


def _company_caller(request: Request, scope: str) -> tuple[Runtime, AccessGrant]:
    rt = runtime(request)
    check_version(request, CONTACTS_VERSION)
    token = bearer_token(request)
    grant = rt.tokens.lookup(token) if token else None
    if grant is None:
        raise ApiError(401, "Invalid token: access token is invalid")
    budget_owner = grant.company_id if grant.user_type == "Company" else grant.location_id
    decision = rt.limiter.hit(grant.budget, budget_owner or "")
    request.state.ratelimit_headers = decision.headers
    if not decision.allowed:
        raise ApiError(429, "Too Many Requests")
    if grant.user_type != "Company" or grant.company_id is None:
        raise ApiError(401, _NOT_AGENCY)
    if scope not in grant.scopes:
        raise ApiError(401, "The token is not authorized for this scope.")
    return rt, grant


def _own_company(grant: AccessGrant, company_id: str | None) -> str:
    if not company_id:
        raise ApiError(422, ["companyId should not be empty"])
    if company_id != grant.company_id:
        raise ApiError(403, "The token does not have access to this company.")
    return company_id


@router.post("/oauth/locationToken")
async def location_token(request: Request) -> dict[str, Any]:
    """`get-location-access-token`: a location token minted from the Company token."""
    rt, grant = _company_caller(request, "oauth.write")
    form = await _form(request)
    missing = [k for k in ("companyId", "locationId") if not form.get(k)]
    if missing:
        raise ApiError(422, [f"{k} should not be empty" for k in missing])
    company_id = _own_company(grant, form["companyId"])
    location_id = form["locationId"]
    if rt.agency.company_of(location_id) != company_id:
        raise ApiError(400, "Location not found in company")
    if not rt.agency.is_installed(location_id):
        raise ApiError(400, "App is not installed on this location")
    scopes = frozenset(s for s in grant.scopes if s not in AGENCY_SCOPES)
    pair = rt.tokens.mint(location_id, scopes)
    return {
        **bearer_fields(pair),
        "userType": "Location",
        "locationId": location_id,
        "companyId": company_id,
        "userId": rt.settings.user_id,
        "appId": rt.agency.app_id,
        "versionId": rt.agency.version_id,
    }


def _bool(name: str, raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise ApiError(422, [f"{name} must be a boolean value"])
    return raw.lower() == "true"


def _count(name: str, raw: str | None, default: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ApiError(422, [f"{name} must be a number string"])
    value = int(raw)
    if high is not None and value > high:
        raise ApiError(422, [f"{name} must not be greater than {high}"])
    return value


@router.get("/oauth/installedLocations")
async def installed_locations(request: Request) -> dict[str, Any]:
    """`get-installed-location`: the company's locations and whether the app is on each."""
    rt, grant = _company_caller(request, "oauth.readonly")
    params = request.query_params
    company_id = _own_company(grant, params.get("companyId"))
    if not params.get("appId"):
        raise ApiError(422, ["appId should not be empty"])
    if params["appId"] != rt.agency.app_id:
        raise ApiError(400, "App not found")
    skip = _count("skip", params.get("skip"), 0, None)
    limit = _count("limit", params.get("limit"), 20, 500)
    installed = _bool("isInstalled", params.get("isInstalled"))
    on_trial = _bool("onTrial", params.get("onTrial"))
    query = (params.get("query") or "").lower()
    version = params.get("versionId")
    rows = [
        row
        for row in rt.agency.rows(company_id)
        if (installed is None or row["isInstalled"] is installed)
        and (not query or query in row["name"].lower())
        and (not params.get("locationId") or row["_id"] == params["locationId"])
        and (not version or row.get("versionId") == version)
        and not on_trial
        and not params.get("planId")
    ]
    return {
        "locations": rows[skip : skip + limit],
        "count": len(rt.agency.locations_of(company_id)),
        "installToFutureLocations": rt.agency.install_to_future(company_id),
    }
