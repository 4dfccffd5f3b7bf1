"""Contacts: get, create, update, upsert, delete (`apps/contacts.json`).

Duplicates (REFERENCE §6): when the location disallows them, a create (or an update to an
email/phone another contact has) answers 400 `This location does not allow duplicated
contacts.` with `meta: {contactId, matchingField, contactName}`. Upsert matches by the
location's priority order (email, then phone); if the email matches one contact and the phone
another, the first is updated and the phone is left out of the update. With duplicates
allowed, `createNewIfDuplicateAllowed: true` always creates. An upsert with neither email nor
phone answers 400 (UNCONFIRMED, community reports).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from schemas.ghl import Contact
from services.simulator._errors import ApiError
from services.simulator._lookup import contact_for
from services.simulator.auth import Caller
from services.simulator.auth import ContactsReader as Reader
from services.simulator.auth import ContactsWriter as Writer
from services.simulator.contact_input import contact_fields
from services.simulator.dto import ContactIn, CreateContactIn, UpsertContactIn, read_body
from services.simulator.render import contact_rest
from services.simulator.runtime import Runtime, runtime

__all__ = ["router"]

router = APIRouter()


def _duplicate_error(contact: Contact, field_name: str) -> ApiError:
    meta: dict[str, Any] = {"contactId": contact.id, "matchingField": field_name}
    if contact.name:
        meta["contactName"] = contact.name
    return ApiError(400, "This location does not allow duplicated contacts.", meta=meta)


def _check_duplicates(
    rt: Runtime, caller: Caller, fields: dict[str, Any], exclude: str | None = None
) -> None:
    if caller.location.allow_duplicates:
        return
    match = rt.state.find_contact(
        caller.location.id, email=fields.get("email"), phone=fields.get("phone"), exclude=exclude
    )
    if match is not None:
        raise _duplicate_error(*match)


def _created(rt: Runtime, contact: Contact) -> JSONResponse:
    rt.faults.after_create()
    return JSONResponse({"contact": {**contact_rest(contact), "deleted": False}}, status_code=201)


@router.get("/contacts/{contactId}")
async def get_contact(contactId: str, caller: Reader, request: Request) -> dict[str, Any]:
    """`get-contact`."""
    contact = contact_for(runtime(request).state, caller, contactId)
    return {"contact": contact_rest(contact)}


@router.post("/contacts/")
@router.post("/contacts", include_in_schema=False)
async def create_contact(caller: Writer, request: Request) -> JSONResponse:
    """`create-contact`: 201 `{contact}`."""
    rt = runtime(request)
    body = await read_body(request, CreateContactIn)
    caller.check_location(body.locationId)
    fields = contact_fields(rt.state, caller.location, body)
    _check_duplicates(rt, caller, fields)
    contact = rt.state.create_contact(caller.location.id, fields)
    return _created(rt, contact)


@router.put("/contacts/{contactId}")
async def update_contact(contactId: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`update-contact`: 200 `{succeded, contact}`; `tags` replaces all tags."""
    rt = runtime(request)
    existing = contact_for(rt.state, caller, contactId)
    body = await read_body(request, ContactIn)
    fields = contact_fields(rt.state, caller.location, body, existing)
    _check_duplicates(rt, caller, fields, exclude=contactId)
    contact = rt.state.update_contact(caller.location.id, contactId, fields)
    return {"succeded": True, "contact": contact_rest(contact)}


@router.post("/contacts/upsert")
async def upsert_contact(caller: Writer, request: Request) -> dict[str, Any]:
    """`upsert-contact`: 200 `{new, contact, traceId}`."""
    rt = runtime(request)
    body = await read_body(request, UpsertContactIn)
    caller.check_location(body.locationId)
    fields = contact_fields(rt.state, caller.location, body)
    if not fields.get("email") and not fields.get("phone"):
        raise ApiError(400, "Either email or phone is required to upsert a contact.")
    loc = caller.location
    match = None
    if not (loc.allow_duplicates and body.createNewIfDuplicateAllowed):
        match = rt.state.find_contact(loc.id, email=fields.get("email"), phone=fields.get("phone"))
    if match is None:
        contact = rt.state.create_contact(loc.id, fields)
        is_new = True
    else:
        existing, matched_on = match
        # Recomputed so custom fields merge into the existing contact's.
        fields = contact_fields(rt.state, loc, body, existing)
        other = "phone" if matched_on == "email" else "email"
        if fields.get(other) and not loc.allow_duplicates:
            clash = rt.state.find_contact(
                loc.id,
                email=fields["email"] if other == "email" else None,
                phone=fields["phone"] if other == "phone" else None,
                exclude=existing.id,
            )
            if clash is not None:
                # The second identifier belongs to another contact: leave it out.
                fields.pop(other)
        contact = rt.state.update_contact(loc.id, existing.id, fields)
        is_new = False
    return {"new": is_new, "contact": contact_rest(contact), "traceId": str(uuid.uuid4())}


@router.delete("/contacts/{contactId}")
async def delete_contact(contactId: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`delete-contact`: 200 `{succeded: true}`."""
    rt = runtime(request)
    contact_for(rt.state, caller, contactId)
    rt.state.delete_contact(caller.location.id, contactId)
    return {"succeded": True}
