"""Admin endpoints for agencies and installs (no credentials; never expose a simulator).

- `GET  /_admin/installs`: companies, their locations, where the app is installed and how.
- `POST /_admin/companies` `{companyId?, name?, locations?, contactsPerLocation?}`: a new
  agency with that many seeded locations (no webhooks: the app is not installed there yet).
- `POST /_admin/companies/{companyId}/locations` `{name?, contacts?}`: a new sub-account in
  the company. `LocationCreate` goes out when the app is installed at agency level, and with
  `installToFutureLocations` the app is installed on it too (an INSTALL without `companyId`).
  Answers `{locationId, name, companyId, installed}`.
- `POST /_admin/installs` `{locationId}`: install the app on one more location of its company
  (as an agency user would from the marketplace): a location-level INSTALL. `{installed}` is
  false when it already was.
- `POST /_admin/uninstall` `{locationId}` or `{companyId}`: uninstall from one location, or
  from the agency and all its locations (UNINSTALL webhooks; their tokens stop working).
  Answers `{uninstalled: [locationIds], company: bool}`.
- `POST /_admin/company-tokens` `{companyId, scopes?, expiresIn?}`: a Company token pair as
  the code exchange would answer it, without a consent (nothing gets installed).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.simulator._errors import ApiError
from services.simulator.dto import read_body
from services.simulator.oauth import token_response
from services.simulator.runtime import Runtime, runtime
from services.simulator.settings import AGENCY_SCOPES, ALL_SCOPES
from services.simulator.state import random_id
from services.simulator.tokens import CompanyConsent

__all__ = ["router"]

router = APIRouter(prefix="/_admin")


class _CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    companyId: str | None = Field(default=None, min_length=1)
    name: str | None = None
    locations: int = Field(default=0, ge=0, le=10_000)
    contactsPerLocation: int = Field(default=0, ge=0, le=1_000_000)


class _LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    contacts: int = Field(default=0, ge=0, le=1_000_000)


class _InstallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locationId: str


class _UninstallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locationId: str | None = None
    companyId: str | None = None


class _CompanyTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    companyId: str
    scopes: list[str] = [*ALL_SCOPES, *AGENCY_SCOPES]
    expiresIn: int | None = Field(default=None, ge=1)


def _known_company(rt: Runtime, company_id: str) -> None:
    if company_id not in rt.agency.companies:
        raise ApiError(400, f"Unknown companyId {company_id}")


def _known_location(rt: Runtime, location_id: str) -> None:
    if location_id not in rt.state.locations:
        raise ApiError(400, f"Unknown locationId {location_id}")


@router.get("/installs")
async def installs(request: Request) -> dict[str, Any]:
    """Companies, locations and install states."""
    return runtime(request).agency.dump()


@router.post("/companies")
async def create_company(request: Request) -> dict[str, Any]:
    """A new agency with seeded locations."""
    rt = runtime(request)
    body = await read_body(request, _CompanyIn, optional=True)
    company_id = body.companyId or random_id(rt.state.rng)
    if company_id in rt.agency.companies:
        raise ApiError(400, f"Company {company_id} exists")
    company = rt.agency.add_company(company_id, body.name or f"Agency {company_id[:6]}")
    made = [
        rt.agency.create_location(company.id, contacts=body.contactsPerLocation)[0].id
        for _ in range(body.locations)
    ]
    return {"companyId": company.id, "name": company.name, "locations": made}


@router.post("/companies/{companyId}/locations")
async def create_location(companyId: str, request: Request) -> dict[str, Any]:
    """A new sub-account: LocationCreate and, for future-location installs, INSTALL."""
    rt = runtime(request)
    _known_company(rt, companyId)
    body = await read_body(request, _LocationIn, optional=True)
    loc, installed = rt.agency.create_location(companyId, name=body.name, contacts=body.contacts)
    return {"locationId": loc.id, "name": loc.name, "companyId": companyId, "installed": installed}


@router.post("/installs")
async def install(request: Request) -> dict[str, Any]:
    """Install the app on one location."""
    rt = runtime(request)
    body = await read_body(request, _InstallIn)
    _known_location(rt, body.locationId)
    return {"installed": rt.agency.install(body.locationId)}


@router.post("/uninstall")
async def uninstall(request: Request) -> dict[str, Any]:
    """Uninstall from a location or from a whole agency."""
    rt = runtime(request)
    body = await read_body(request, _UninstallIn)
    if (body.locationId is None) == (body.companyId is None):
        raise ApiError(422, ["exactly one of locationId, companyId is required"])
    if body.companyId is not None:
        _known_company(rt, body.companyId)
        return {"uninstalled": rt.agency.uninstall_company(body.companyId), "company": True}
    assert body.locationId is not None
    _known_location(rt, body.locationId)
    done = rt.agency.uninstall_location(body.locationId)
    return {"uninstalled": [body.locationId] if done else [], "company": False}


@router.post("/company-tokens")
async def company_token(request: Request) -> dict[str, Any]:
    """A Company token pair, without a consent."""
    rt = runtime(request)
    body = await read_body(request, _CompanyTokenIn)
    _known_company(rt, body.companyId)
    consent = CompanyConsent(company_id=body.companyId)
    pair = rt.tokens.mint_company(consent, frozenset(body.scopes), expires_in=body.expiresIn)
    return token_response(rt, pair)
