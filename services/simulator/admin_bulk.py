"""Admin endpoints for actions at real sizes: bulk changes and mass creation, for benchmarks.

No credentials, not part of GHL (never expose a simulator publicly). Each change goes through
the state, so each sends the webhook the API would (one per contact, as GHL's bulk actions do)
and is atomic; the whole action is not: every 200 contacts the route lets other requests in.

- `POST /_admin/locations/{id}/contacts` `{count, tags?}`: create `count` contacts at once
  (one `ContactCreate` each; emails `bulk.<n>.<random>@example.com`, no duplicate check).
  Answers `{created, ids}`.
- `POST /_admin/locations/{id}/bulk` `{action, count, offset?, tags?, businessId?}`: apply
  `action` to the location's contacts number `offset` .. `offset + count - 1` (in creation
  order): `addTags` / `removeTags` (`ContactTagUpdate` for each contact whose tags changed)
  or `setBusiness` (`ContactUpdate` for each whose business changed). Answers `{contacts,
  changed}`; a contact already in the wanted state changes nothing and sends nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.simulator._errors import ApiError
from services.simulator.contact_input import clean_tags
from services.simulator.dto import read_body
from services.simulator.runtime import runtime
from services.simulator.seed import FIRST_NAMES, LAST_NAMES
from services.simulator.state import LocationData

__all__ = ["router"]

router = APIRouter(prefix="/_admin")
_YIELD_EVERY = 200
_MAX = 1_000_000


class _CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=_MAX)
    tags: list[str] = []


class _BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["addTags", "removeTags", "setBusiness"]
    count: int = Field(ge=1, le=_MAX)
    offset: int = Field(default=0, ge=0)
    tags: list[str] = []
    businessId: str | None = None


def _location(request: Request, location_id: str) -> LocationData:
    loc = runtime(request).state.locations.get(location_id)
    if loc is None:
        raise ApiError(400, f"Unknown locationId {location_id}")
    return loc


@router.post("/locations/{locationId}/contacts")
async def create_contacts(locationId: str, request: Request) -> dict[str, Any]:
    """Create `count` contacts, each with its `ContactCreate` webhook."""
    rt = runtime(request)
    loc = _location(request, locationId)
    body = await read_body(request, _CreateIn)
    rng = random.Random(f"{rt.settings.seed}:{loc.id}:{len(loc.contacts)}:{loc.contact_version}")
    tags = clean_tags(body.tags)
    ids = []
    for number in range(body.count):
        if number and number % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        fields = {
            "firstName": first,
            "lastName": last,
            "email": f"bulk.{number}.{rng.getrandbits(40):010x}@example.com",
            "phone": f"+1666{rng.randint(0, 9_999_999):07d}",
            "source": "bulk import",
            "tags": list(tags),
        }
        ids.append(rt.state.create_contact(loc.id, fields).id)
    return {"created": len(ids), "ids": ids}


@router.post("/locations/{locationId}/bulk")
async def bulk_action(locationId: str, request: Request) -> dict[str, Any]:
    """Apply one bulk action to a slice of the location's contacts."""
    rt = runtime(request)
    loc = _location(request, locationId)
    body = await read_body(request, _BulkIn)
    if body.action != "setBusiness" and not body.tags:
        raise ApiError(422, ["tags should not be empty"])
    chosen = list(itertools.islice(loc.contacts, body.offset, body.offset + body.count))
    wanted = clean_tags(body.tags)
    changed = 0
    for index, contact_id in enumerate(chosen):
        if index and index % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
        contact = loc.contacts.get(contact_id)
        if contact is None:  # deleted while the action ran
            continue
        if body.action == "setBusiness":
            changes: dict[str, Any] = {"businessId": body.businessId}
        elif body.action == "addTags":
            changes = {"tags": clean_tags([*(contact.tags or []), *wanted])}
        else:
            changes = {"tags": [t for t in contact.tags or [] if t not in wanted]}
        if rt.state.update_contact(loc.id, contact_id, changes) is not contact:
            changed += 1
    return {"contacts": len(chosen), "changed": changed}
