"""Command payloads: GHL's request bodies (`schemas.commands.requests`) with the command's rules.

Each payload extends the body the writer sends, so its fields are GHL's own and declared once;
a payload adds only what a command needs on top: a change must set some field, a create of a
contact must be findable again (email or phone), texts are not empty, times are aware.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from schemas._config import PUBLISHED_CONFIG
from schemas.commands import requests as rq
from schemas.commands._base import Text

__all__ = [
    "AppointmentChanges",
    "AppointmentInput",
    "ContactChanges",
    "ContactInput",
    "CustomFieldWrite",
    "FollowersPayload",
    "NoteChanges",
    "NoteInput",
    "TagsPayload",
    "TaskChanges",
    "TaskInput",
]


class _Payload(BaseModel):
    model_config = PUBLISHED_CONFIG

    def to_ghl(self) -> dict[str, Any]:
        """The GHL request body: GHL's field names, `None` fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class _SetsSomeField(_Payload):
    """A payload that must set some field (a change must change something)."""

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not any(value is not None for value in self.model_dump().values()):
            raise ValueError("payload sets no field: a change must change something")
        return self


class CustomFieldWrite(rq.CustomFieldInput, _Payload):
    """One custom field value on write: `id` or `key`, and `field_value` (GHL's write shape)."""

    @model_validator(mode="after")
    def _named(self) -> Self:
        if not (self.id or self.key):
            raise ValueError("a custom field needs `id` or `key`")
        return self


class ContactChanges(rq.ContactUpdate, _SetsSomeField):
    """Contact fields to write; `tags` here replaces every tag (prefer the tag commands)."""

    # A narrower element type than the body's (each write names its field); the model is
    # frozen, so the list is never written through the base type.
    customFields: list[CustomFieldWrite] | None = None  # type: ignore[assignment]


class ContactInput(rq.ContactCreate, _SetsSomeField):
    """A new contact; needs `email` or `phone` (how a lost create is found again)."""

    # A narrower element type than the body's (each write names its field); the model is
    # frozen, so the list is never written through the base type.
    customFields: list[CustomFieldWrite] | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _findable(self) -> Self:
        if not (self.email or self.phone):
            raise ValueError("a contact create needs `email` or `phone`")
        return self


class TagsPayload(_Payload):
    """Tags to add or remove (GHL trims and lower-cases them)."""

    tags: list[Text] = Field(min_length=1, max_length=100)


class FollowersPayload(_Payload):
    """User ids to add or remove as followers."""

    followers: list[Text] = Field(min_length=1, max_length=100)


class TaskInput(rq.TaskCreate, _Payload):
    """A new task of a contact."""

    title: Text
    dueDate: AwareDatetime


class TaskChanges(rq.TaskUpdate, _SetsSomeField):
    """Task fields to write."""

    dueDate: AwareDatetime | None = None


class NoteInput(rq.NoteCreate, _Payload):
    """A new note of a contact."""

    body: Text


class NoteChanges(rq.NoteUpdate, _SetsSomeField):
    """Note fields to write."""


class AppointmentChanges(rq.AppointmentUpdate, _SetsSomeField):
    """Appointment fields to write (`AppointmentEditSchema`)."""

    startTime: AwareDatetime | None = None
    endTime: AwareDatetime | None = None


class AppointmentInput(AppointmentChanges):
    """A new appointment of a contact (the contact is the command's `contact_id`)."""

    calendarId: Text
    startTime: AwareDatetime
