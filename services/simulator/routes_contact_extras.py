"""Tags, followers, campaigns, workflows and the bulk operations on contacts.

- Tag add answers 201, tag remove 200, both with the contact's full new tag list, and emit
  `ContactTagUpdate` when the list changed.
- Bulk tags (`/contacts/bulk/tags/update/{add|remove}`) declare no security in the spec; the
  simulator asks for `contacts.write` (UNCONFIRMED), as for bulk business. `responses` lists one
  string per contact (its id, or `<id>: not found`) (UNCONFIRMED shape of the strings).
- A bulk action changes each contact on its own and sends one webhook per changed contact
  (`ContactTagUpdate` for bulk tags, `ContactUpdate` for bulk business), as GHL does; every 200
  contacts it lets other requests in, so a 10,000-contact action does not stall the API.
- Followers are stored on the contact (`followers`, as in the search item schema); a change
  bumps `dateUpdated` and emits `ContactUpdate` (UNCONFIRMED).
- Campaign and workflow membership is recorded (see the admin dump) and emits nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.simulator._errors import ApiError
from services.simulator._lookup import contact_for
from services.simulator.auth import ContactsWriter as Writer
from services.simulator.contact_input import clean_tags
from services.simulator.dto import BulkBusinessIn, BulkTagsIn, FollowersIn, TagsIn, read_body
from services.simulator.runtime import runtime

__all__ = ["router"]

router = APIRouter()
_YIELD_EVERY = 200


@router.post("/contacts/{contactId}/tags")
async def add_tags(contactId: str, caller: Writer, request: Request) -> JSONResponse:
    """`add-tags`: 201 `{tags}`."""
    rt = runtime(request)
    contact = contact_for(rt.state, caller, contactId)
    body = await read_body(request, TagsIn)
    tags = clean_tags([*(contact.tags or []), *body.tags])
    contact = rt.state.update_contact(caller.location.id, contactId, {"tags": tags})
    return JSONResponse({"tags": contact.tags or []}, status_code=201)


@router.delete("/contacts/{contactId}/tags")
async def remove_tags(contactId: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`remove-tags`: 200 `{tags}` (the body rides on the DELETE)."""
    rt = runtime(request)
    contact = contact_for(rt.state, caller, contactId)
    body = await read_body(request, TagsIn)
    gone = set(clean_tags(body.tags))
    tags = [t for t in contact.tags or [] if t not in gone]
    contact = rt.state.update_contact(caller.location.id, contactId, {"tags": tags})
    return {"tags": contact.tags or []}


@router.post("/contacts/bulk/tags/update/{type}")
async def bulk_tags(type: str, caller: Writer, request: Request) -> JSONResponse:
    """`create-association` (bulk tag update): 201 `{succeded, errorCount, responses}`."""
    if type not in ("add", "remove"):
        raise ApiError(422, ["type must be one of the following values: add, remove"])
    rt = runtime(request)
    body = await read_body(request, BulkTagsIn)
    caller.check_location(body.locationId)
    loc = caller.location
    wanted = clean_tags(body.tags)
    responses: list[str] = []
    errors = 0
    for index, contact_id in enumerate(body.contacts):
        if index and index % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let other requests in during a large bulk action
        contact = loc.contacts.get(contact_id)
        if contact is None:
            errors += 1
            responses.append(f"{contact_id}: not found")
            continue
        if type == "add":
            tags = clean_tags([*(contact.tags or []), *wanted])
        elif body.removeAllTags:
            tags = []
        else:
            tags = [t for t in contact.tags or [] if t not in wanted]
        rt.state.update_contact(loc.id, contact_id, {"tags": tags})
        responses.append(contact_id)
    body_out = {"succeded": errors == 0, "errorCount": errors, "responses": responses}
    return JSONResponse(body_out, status_code=201)


def _followers(raw: Any) -> list[str]:
    return [str(f) for f in raw] if isinstance(raw, list) else []


@router.post("/contacts/{contactId}/followers")
async def add_followers(contactId: str, caller: Writer, request: Request) -> JSONResponse:
    """`add-followers-contact`: 201 `{followers, followersAdded}`."""
    rt = runtime(request)
    contact = contact_for(rt.state, caller, contactId)
    body = await read_body(request, FollowersIn)
    current = _followers(getattr(contact, "followers", None))
    added = [f for f in dict.fromkeys(body.followers) if f not in current]
    if added:
        rt.state.update_contact(caller.location.id, contactId, {"followers": current + added})
    return JSONResponse({"followers": current + added, "followersAdded": added}, status_code=201)


@router.delete("/contacts/{contactId}/followers")
async def remove_followers(contactId: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`remove-followers-contact`: 200 `{followers, followersRemoved}`."""
    rt = runtime(request)
    contact = contact_for(rt.state, caller, contactId)
    body = await read_body(request, FollowersIn)
    current = _followers(getattr(contact, "followers", None))
    removed = [f for f in current if f in set(body.followers)]
    left = [f for f in current if f not in set(body.followers)]
    if removed:
        rt.state.update_contact(caller.location.id, contactId, {"followers": left})
    return {"followers": left, "followersRemoved": removed}


@router.delete("/contacts/{contactId}/campaigns/removeAll")
async def remove_all_campaigns(contactId: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`remove-contact-from-every-campaign`."""
    contact_for(runtime(request).state, caller, contactId)
    caller.location.campaigns.pop(contactId, None)
    return {"succeded": True}


@router.post("/contacts/{contactId}/campaigns/{campaignId}")
async def add_campaign(
    contactId: str, campaignId: str, caller: Writer, request: Request
) -> JSONResponse:
    """`add-contact-to-campaign`: 201."""
    contact_for(runtime(request).state, caller, contactId)
    caller.location.campaigns.setdefault(contactId, set()).add(campaignId)
    return JSONResponse({"succeded": True}, status_code=201)


@router.delete("/contacts/{contactId}/campaigns/{campaignId}")
async def remove_campaign(
    contactId: str, campaignId: str, caller: Writer, request: Request
) -> dict[str, Any]:
    """`remove-contact-from-campaign`."""
    contact_for(runtime(request).state, caller, contactId)
    caller.location.campaigns.get(contactId, set()).discard(campaignId)
    return {"succeded": True}


@router.post("/contacts/{contactId}/workflow/{workflowId}")
async def add_workflow(
    contactId: str, workflowId: str, caller: Writer, request: Request
) -> dict[str, Any]:
    """`add-contact-to-workflow`: 200 (the spec says 200 here, not 201)."""
    contact_for(runtime(request).state, caller, contactId)
    caller.location.workflows.setdefault(contactId, set()).add(workflowId)
    return {"succeded": True}


@router.delete("/contacts/{contactId}/workflow/{workflowId}")
async def remove_workflow(
    contactId: str, workflowId: str, caller: Writer, request: Request
) -> dict[str, Any]:
    """`delete-contact-from-workflow`."""
    contact_for(runtime(request).state, caller, contactId)
    caller.location.workflows.get(contactId, set()).discard(workflowId)
    return {"succeded": True}


@router.post("/contacts/bulk/business")
async def bulk_business(caller: Writer, request: Request) -> dict[str, Any]:
    """`add-remove-contact-from-business`: 200 `{success, ids}` (ids actually changed)."""
    rt = runtime(request)
    body = await read_body(request, BulkBusinessIn)
    caller.check_location(body.locationId)
    done = []
    for index, contact_id in enumerate(body.ids):
        if index and index % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let other requests in during a large bulk action
        if contact_id in caller.location.contacts:
            rt.state.update_contact(caller.location.id, contact_id, {"businessId": body.businessId})
            done.append(contact_id)
    return {"success": True, "ids": done}
