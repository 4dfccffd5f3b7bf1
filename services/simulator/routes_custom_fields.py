"""Custom field definitions of a location, as `apps/locations.json` describes them.

- `GET /locations/{locationId}/customFields` (`?model=contact|opportunity|all`): 200
  `{customFields: [...]}`; `GET /locations/{locationId}/customFields/{id}`: 200
  `{customField: {...}}`, an unknown id 400 (UNCONFIRMED: the spec lists 400 and 422 only).
- `POST /locations/{locationId}/customFields` (`create-custom-field`, scope
  `locations/customFields.write`): `{name, dataType, options?, model?}` → 201
  `{customField}`; the key is the name in snake case (UNCONFIRMED: GHL derives it likewise);
  a name whose key exists is 400.
- The definitions are the location's contact custom fields (`LocationData.custom_fields`, key
  → id, filled by seeding, by the create route and by writes naming a new key); the seeded
  keys have the types below, a key first seen in a write is TEXT. `fieldKey` is
  `contact.<key>` as GHL writes it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Query, Request

from services.simulator._errors import ApiError
from services.simulator.auth import CONTACTS_VERSION, Caller, guard
from services.simulator.runtime import runtime

__all__ = ["KNOWN_FIELDS", "router"]

router = APIRouter()
Reader = Annotated[Caller, Depends(guard("locations/customFields.readonly", CONTACTS_VERSION))]
Writer = Annotated[Caller, Depends(guard("locations/customFields.write", CONTACTS_VERSION))]

KNOWN_FIELDS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "membership_level": ("Membership level", "SINGLE_OPTIONS", ("Gold", "Silver", "Bronze")),
    "favorite_color": ("Favorite color", "TEXT", ()),
    "lead_score": ("Lead score", "NUMERICAL", ()),
    "renewal_date": ("Renewal date", "DATE", ()),
    "deal_value": ("Deal value", "MONETORY", ()),
    "interests": ("Interests", "MULTIPLE_OPTIONS", ("Email", "SMS", "Events", "Webinars")),
    "consents": ("Consents", "CHECKBOX", ("Newsletter", "Offers", "Surveys")),
    "about": ("About", "LARGE_TEXT", ()),
}
"""Seeded key → (name, GHL dataType, picklist options)."""

DATA_TYPES: Final = frozenset({
    "TEXT", "LARGE_TEXT", "NUMERICAL", "PHONE", "MONETORY", "CHECKBOX", "SINGLE_OPTIONS",
    "MULTIPLE_OPTIONS", "DATE", "TEXTBOX_LIST", "FILE_UPLOAD", "RADIO", "SIGNATURE",
})  # fmt: skip
"""The dataType values the create route takes (GHL's field types)."""


def _definition(
    location_id: str,
    key: str,
    field_id: str,
    position: int,
    types: dict[str, tuple[str, str, tuple[str, ...]]],
) -> dict[str, Any]:
    default = (key.replace("_", " ").title(), "TEXT", ())
    name, data_type, options = types.get(key) or KNOWN_FIELDS.get(key, default)
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
        _definition(loc.id, key, field_id, 50 * n, loc.custom_field_types)
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


@router.post("/locations/{locationId}/customFields", status_code=201)
async def create_custom_field(
    locationId: str,
    caller: Writer,
    request: Request,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """`create-custom-field`: 201 `{customField}` (contact fields; `options` for option types,
    UNCONFIRMED: the spec's body lists no options)."""
    rt = runtime(request)
    caller.check_location(locationId)
    name, data_type = body.get("name"), body.get("dataType")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(422, ["name should not be empty"])
    if data_type not in DATA_TYPES:
        raise ApiError(422, [f"dataType must be one of {', '.join(sorted(DATA_TYPES))}"])
    if body.get("model", "contact") != "contact":
        raise ApiError(422, ["only contact custom fields are simulated"])
    raw_options = body.get("options") or body.get("picklistOptions") or []
    if not isinstance(raw_options, list) or not all(isinstance(o, str) for o in raw_options):
        raise ApiError(422, ["options must be a list of strings"])
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    loc = caller.location
    if not key or key in loc.custom_fields:
        raise ApiError(400, f"Custom field {name!r} already exists")
    loc.custom_fields[key] = rt.state.new_id()
    loc.custom_field_types[key] = (name.strip(), data_type, tuple(raw_options))
    for definition in _definitions(caller):
        if definition["id"] == loc.custom_fields[key]:
            return {"customField": definition}
    raise AssertionError("the field just created is listed")  # pragma: no cover
