"""Request bodies, validated the way GHL's class-validator does, with its 422 messages.

Bodies are strict (no coercion) and reject unknown properties with
`property <name> should not exist`, as GHL does (e.g. `additionalEmails`, ISSUES #262).
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from schemas.ghl import DndSettings
from services.simulator._errors import ApiError

__all__ = [
    "AppointmentCreateIn",
    "AppointmentEditIn",
    "BulkBusinessIn",
    "BulkTagsIn",
    "ContactIn",
    "CreateContactIn",
    "CustomFieldIn",
    "FollowersIn",
    "NoteIn",
    "NoteUpdateIn",
    "SearchIn",
    "TagsIn",
    "TaskCompletedIn",
    "TaskIn",
    "TaskSearchIn",
    "TaskUpdateIn",
    "UpsertContactIn",
    "read_body",
]

Body = TypeVar("Body", bound=BaseModel)


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CustomFieldIn(_In):
    """A custom field write: `id` or `key`, and `field_value` (any JSON)."""

    id: str | None = None
    key: str | None = None
    field_value: Any = None


class InboundDnd(_In):
    """`inboundDndSettings.all`."""

    status: Literal["active", "inactive"]
    message: str | None = None


class InboundDndSettings(_In):
    """`inboundDndSettings`."""

    all: InboundDnd | None = None


class ContactIn(_In):
    """Fields shared by create, update and upsert (`UpdateContactDto`)."""

    firstName: str | None = None
    lastName: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    website: str | None = None
    timezone: str | None = None
    dnd: bool | None = None
    dndSettings: DndSettings | None = None
    inboundDndSettings: InboundDndSettings | None = None
    tags: list[str] | None = None
    customFields: list[CustomFieldIn] | None = None
    source: str | None = None
    dateOfBirth: str | None = None
    country: str | None = None
    assignedTo: str | None = None
    companyName: str | None = None


class CreateContactIn(ContactIn):
    """`CreateContactDto`."""

    locationId: str
    gender: str | None = None


class UpsertContactIn(CreateContactIn):
    """`UpsertContactDto`."""

    createNewIfDuplicateAllowed: bool = False


class TagsIn(_In):
    """`TagsDTO`."""

    tags: list[str]


class BulkTagsIn(_In):
    """`UpdateTagsDTO`."""

    contacts: list[str]
    tags: list[str]
    locationId: str
    removeAllTags: bool | None = None


class BulkBusinessIn(_In):
    """`ContactsBusinessUpdate`."""

    locationId: str
    ids: list[str]
    businessId: str | None


class FollowersIn(_In):
    """`FollowersDTO`."""

    followers: list[str]


class TaskUpdateIn(_In):
    """`UpdateTaskBody`."""

    title: str | None = None
    body: str | None = None
    dueDate: str | None = None
    completed: bool | None = None
    assignedTo: str | None = None


class TaskIn(TaskUpdateIn):
    """`CreateTaskParams`."""

    title: str
    dueDate: str
    completed: bool


class TaskCompletedIn(_In):
    """`UpdateTaskStatusParams`."""

    completed: bool


class NoteUpdateIn(_In):
    """`UpdateNoteDTO`."""

    userId: str | None = None
    body: str | None = None
    title: str | None = None
    color: str | None = None
    pinned: bool | None = None


class NoteIn(NoteUpdateIn):
    """`NotesDTO`."""

    body: str


class SearchIn(_In):
    """`POST /contacts/search` (the shape of GHL's external docs; UNCONFIRMED)."""

    locationId: str
    pageLimit: int = Field(ge=1, le=500)
    page: int | None = Field(default=None, ge=1)
    searchAfter: list[Any] | None = None
    query: str | None = Field(default=None, max_length=75)
    filters: list[dict[str, Any]] = []
    sort: list[dict[str, Any]] = []


class TaskSearchIn(_In):
    """`TaskSearchParamsDto`."""

    contactId: list[str] | None = None
    completed: bool | None = None
    assignedTo: list[str] | None = None
    query: str | None = None
    limit: int = Field(default=25, ge=1, le=100)
    skip: int = Field(default=0, ge=0)
    businessId: str | None = None


_MeetingType = Literal["custom", "zoom", "gmeet", "phone", "address", "ms_teams", "google"]
_Status = Literal["new", "confirmed", "cancelled", "showed", "noshow", "invalid"]


class AppointmentEditIn(_In):
    """`AppointmentEditSchema`."""

    title: str | None = None
    meetingLocationType: _MeetingType | None = None
    meetingLocationId: str | None = None
    overrideLocationConfig: bool | None = None
    appointmentStatus: _Status | None = None
    assignedUserId: str | None = None
    description: str | None = None
    address: str | None = None
    ignoreDateRange: bool | None = None
    toNotify: bool | None = None
    ignoreFreeSlotValidation: bool | None = None
    rrule: str | None = None
    calendarId: str | None = None
    startTime: str | None = None
    endTime: str | None = None


class AppointmentCreateIn(AppointmentEditIn):
    """`AppointmentCreateSchema`."""

    calendarId: str
    locationId: str
    contactId: str
    startTime: str


def _message(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "body"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"property {where} should not exist"
    if kind == "missing":
        return f"{where} should not be empty"
    if kind == "string_type":
        return f"{where} must be a string"
    if kind == "bool_type":
        return f"{where} must be a boolean value"
    if kind in ("int_type", "float_type", "int_parsing"):
        return f"{where} must be a number conforming to the specified constraints"
    if kind == "list_type":
        return f"{where} must be an array"
    if kind == "less_than_equal":
        return f"{where} must not be greater than {ctx.get('le')}"
    if kind == "greater_than_equal":
        return f"{where} must not be less than {ctx.get('ge')}"
    if kind == "string_too_long":
        return f"{where} must be shorter than or equal to {ctx.get('max_length')} characters"
    if kind == "literal_error":
        return f"{where} must be one of the following values: {ctx.get('expected')}"
    return f"{where} {err['msg']}"


def validate(model: type[Body], data: Any) -> Body:
    """Validate data, raising GHL's 422 with class-validator style messages."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, [_message(e) for e in exc.errors()]) from exc


async def read_body(request: Request, model: type[Body], *, optional: bool = False) -> Body:
    """Parse and validate a JSON request body (400 when it is not JSON)."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return validate(model, {})
        raise ApiError(422, ["body should not be empty"])
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Unexpected token in JSON body") from exc
    return validate(model, data)
