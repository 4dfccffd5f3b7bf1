"""Custom field definitions of a location, as `apps/locations.json` describes them.

- `GET /locations/{locationId}/customFields` (`?model=contact|opportunity|all`): 200
  `{customFields: [...]}`; `GET /locations/{locationId}/customFields/{id}`: 200
  `{customField: {...}}`, an unknown id 400 (UNCONFIRMED: the spec lists 400 and 422 only).
- The definitions are the location's contact custom fields (`LocationData.custom_fields`, key
  → id, filled by seeding and by writes naming a new key); the seeded keys have the types
  below, a key first seen in a write is TEXT. `fieldKey` is `contact.<key>` as GHL writes it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request

from services.simulator._errors import ApiError
from services.simulator.auth import CONTACTS_VERSION, Caller, guard
from services.simulator.runtime import runtime

__all__ = ["KNOWN_FIELDS", "router"]

router = APIRouter()
Reader = Annotated[Caller, Depends(guard("locations/customFields.readonly", CONTACTS_VERSION))]

KNOWN_FIELDS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "membership_level": ("Membership level", "SINGLE_OPTIONS", ("Gold", "Silver", "Bronze")),
    "favorite_color": ("Favorite color", "TEXT", ()),
    "lead_score": ("Lead score", "NUMERICAL", ()),
    "renewal_date": ("Renewal date", "DATE", ()),
}
"""Seeded key → (name, GHL dataType, picklist options)."""


def _definition(location_id: str, key: str, field_id: str, position: int) -> dict[str, Any]:
    name, data_type, options = KNOWN_FIELDS.get(key, (key.replace("_", " ").title(), "TEXT", ()))
    out: dict[str, Any] = {
        "id": field_id,
        "name": name,
        "fieldKey": f"contact.{key}",
        "placeholder": name,
        "dataType": data_type,
        "position": position,
        "locationId": location_id,
        "model": "contact",
    }
    if options:
        out["picklistOptions"] = list(options)
    return out


def _definitions(caller: Caller) -> list[dict[str, Any]]:
    loc = caller.location
    return [
        _definition(loc.id, key, field_id, 50 * n)
        for n, (key, field_id) in enumerate(sorted(loc.custom_fields.items()))
    ]


@router.get("/locations/{locationId}/customFields")
async def list_custom_fields(
    locationId: str,
    caller: Reader,
    request: Request,
    model: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """`get-custom-fields`: 200 `{customFields}`."""
    runtime(request)
    caller.check_location(locationId)
    if model not in (None, "contact", "opportunity", "all"):
        raise ApiError(
            422, ["model must be one of the following values: contact, opportunity, all"]
        )
    fields = [] if model == "opportunity" else _definitions(caller)
    return {"customFields": fields}


@router.get("/locations/{locationId}/customFields/{id}")
async def get_custom_field(
    locationId: str, id: str, caller: Reader, request: Request
) -> dict[str, Any]:
    """`get-custom-field`: 200 `{customField}`."""
    runtime(request)
    caller.check_location(locationId)
    for definition in _definitions(caller):
        if definition["id"] == id:
            return {"customField": definition}
    raise ApiError(400, f"Custom field {id} not found")
