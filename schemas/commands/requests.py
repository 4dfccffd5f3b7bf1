"""GHL's request bodies, as the specs name their fields: what the GHL client sends.

Pure models (no I/O). The command payloads (`schemas.commands.payloads`) extend the write
bodies, so each body's fields are declared once, here; the client imports them through
`services.ghl.requests`.

Bodies are frozen and forbid unknown keys, so a typo fails here instead of being ignored by GHL.
Fields left `None` are not sent. `locationId` is never part of a model: the client fills it in
from the location the call is made for, so it cannot disagree with the token and the budget.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from schemas.ghl import DndSettings

__all__ = [
    "AppointmentCreate",
    "AppointmentUpdate",
    "ContactCreate",
    "ContactSearch",
    "ContactUpdate",
    "ContactUpsert",
    "CustomFieldInput",
    "NoteCreate",
    "NoteUpdate",
    "SearchFilter",
    "SearchFilterGroup",
    "SearchSort",
    "TaskCreate",
    "TaskSearch",
    "TaskUpdate",
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The JSON body: GHL's field names, `None` fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class CustomFieldInput(_Body):
    """One custom field value on write: `id` or `key` (e.g. `my_custom_field`), and the value.

    GHL reads back `{id, value}` but writes take `field_value`: a string, number, list of
    strings (checkbox, multi-select) or a file object, by field type.
    """

    id: str | None = None
    key: str | None = None
    field_value: JsonValue = None


class _ContactWrite(_Body):
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
    inboundDndSettings: dict[str, JsonValue] | None = None
    tags: list[str] | None = None
    """Replaces every tag of the contact; use the tag operations for incremental changes."""
    customFields: list[CustomFieldInput] | None = None
    source: str | None = None
    dateOfBirth: str | None = None
    country: str | None = None
    assignedTo: str | None = None


class ContactUpdate(_ContactWrite):
    """`PUT /contacts/{contactId}` (UpdateContactDto): every field optional."""


class ContactCreate(_ContactWrite):
    """`POST /contacts/` (CreateContactDto)."""

    gender: str | None = None
    companyName: str | None = None


class ContactUpsert(ContactCreate):
    """`POST /contacts/upsert` (UpsertContactDto): matches by the location's duplicate rules."""

    createNewIfDuplicateAllowed: bool | None = None


class SearchFilter(_Body):
    """One search condition: `{field, operator, value}` (operators `eq`, `range`, ...)."""

    field: str
    operator: str
    value: JsonValue = None


class SearchFilterGroup(_Body):
    """Conditions joined by `AND` or `OR`."""

    group: Literal["AND", "OR"]
    filters: list[SearchFilter | SearchFilterGroup]


class SearchSort(_Body):
    """One sort key of a search."""

    field: str
    direction: Literal["asc", "desc"] = "asc"


class ContactSearch(_Body):
    """`POST /contacts/search` body; `searchAfter` is the cursor taken from the last hit."""

    pageLimit: int = 100
    page: int | None = None
    searchAfter: list[JsonValue] | None = None
    query: str | None = None
    filters: list[SearchFilter | SearchFilterGroup] | None = None
    sort: list[SearchSort] | None = None


class TaskUpdate(_Body):
    """`PUT /contacts/{contactId}/tasks/{taskId}` (UpdateTaskBody)."""

    title: str | None = None
    body: str | None = None
    dueDate: datetime | None = None
    completed: bool | None = None
    assignedTo: str | None = None


class TaskCreate(TaskUpdate):
    """`POST /contacts/{contactId}/tasks` (CreateTaskParams)."""

    title: str
    dueDate: datetime
    completed: bool = False


class TaskSearch(_Body):
    """`POST /locations/{locationId}/tasks/search` (TaskSearchParamsDto); paged by skip/limit."""

    contactId: list[str] | None = None
    completed: bool | None = None
    assignedTo: list[str] | None = None
    query: str | None = None
    limit: int = 100
    skip: int = 0
    businessId: str | None = None


class NoteUpdate(_Body):
    """`PUT /contacts/{contactId}/notes/{id}` (UpdateNoteDTO)."""

    body: str | None = None
    userId: str | None = None
    title: str | None = None
    color: str | None = None
    pinned: bool | None = None


class NoteCreate(NoteUpdate):
    """`POST /contacts/{contactId}/notes` (NotesDTO)."""

    body: str


class _AppointmentWrite(_Body):
    title: str | None = None
    meetingLocationType: str | None = None
    meetingLocationId: str | None = None
    overrideLocationConfig: bool | None = None
    appointmentStatus: str | None = None
    assignedUserId: str | None = None
    description: str | None = None
    address: str | None = None
    ignoreDateRange: bool | None = None
    toNotify: bool | None = None
    ignoreFreeSlotValidation: bool | None = None
    rrule: str | None = None
    endTime: datetime | None = None


class AppointmentCreate(_AppointmentWrite):
    """`POST /calendars/events/appointments` (AppointmentCreateSchema)."""

    calendarId: str
    contactId: str
    startTime: datetime


class AppointmentUpdate(_AppointmentWrite):
    """`PUT /calendars/events/appointments/{eventId}` (AppointmentEditSchema)."""

    calendarId: str | None = None
    startTime: datetime | None = None
