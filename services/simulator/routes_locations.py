"""The sub-account search of `apps/locations.json`, as a location-level token sees it.

- `GET /locations/search` (`search-locations`, scope `locations.readonly`, security
  `Location-Access` or `Agency-Access`): 200 `{locations: [GetLocationSchema]}`. A location
  token, OAuth or Private Integration Token, sees its own sub-account and nothing else
  (UNCONFIRMED: the spec documents the call for location tokens but not what it lists; this is
  the reading the poller relies on to find a PIT's location, see `services/poller/_pit.py`).
  `skip` and `limit` are strings, as the spec has them; `email` filters by the sub-account's
  email. Company tokens answer 401 here (the guard takes location tokens only).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.simulator._errors import ApiError
from services.simulator.auth import CONTACTS_VERSION, Caller, guard
from services.simulator.runtime import runtime

__all__ = ["router"]

router = APIRouter()
Reader = Annotated[Caller, Depends(guard("locations.readonly", CONTACTS_VERSION))]


def _count(value: str, name: str, default: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        raise ApiError(422, [f"{name} must be a number string"]) from None
    if number < 0:
        raise ApiError(422, [f"{name} must not be less than 0"])
    return number


@router.get("/locations/search")
async def search_locations(
    caller: Reader,
    request: Request,
    skip: Annotated[str, Query()] = "0",
    limit: Annotated[str, Query()] = "10",
    email: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """`search-locations`: 200 `{locations}`, the caller's own sub-account."""
    runtime(request)
    loc = caller.location
    found: list[dict[str, Any]] = [{"id": loc.id, "name": loc.name}]
    if email is not None:
        found = []  # the simulated sub-accounts carry no email
    start = _count(skip, "skip", 0)
    return {"locations": found[start : start + _count(limit, "limit", 10)]}
