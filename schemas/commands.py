"""APPNAME's commands on `appname.commands.v1`: one per GHL write operation the writer applies.

Every command is frozen, forbids unknown keys and carries:

- `command_id`: the idempotency key. The writer applies a command id at most once; the same
  id sent again with the same content is the same command, with other content it is refused.
- `command_type`: the discriminator of the closed `Command` union (`decode_command`).
- `location_id` and its target (`contact_id`, and `task_id` / `note_id` / `appointment_id`).
- `payload`: GHL's own field names (camelCase), `None` meaning "not sent".
- `expected_version` (where GHL keeps a `dateUpdated` to compare it with: contacts and
  appointments): GHL's `dateUpdated` the change was based on; an older one is a conflict.

The Kafka key is `command_key(command)`, `{location_id}:{contact_id}`, so one contact's
commands stay in order in one partition; creating a contact has no contact id yet and is keyed
by `{location_id}:new:{command_id}`.

A contact create must carry an email or a phone: GHL has no idempotency key, and a create whose
answer was lost (or answered 422 yet applied, GHL issue #64) is found again only by GHL's
duplicate search on email or phone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Self, TypeAlias

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from schemas._reasons import describe_validation_error
from schemas.ghl import DndSettings

__all__ = [
    "COMMAND_TYPES",
    "AddContactFollowers",
    "AddContactTags",
    "AddContactToCampaign",
    "AddContactToWorkflow",
    "AppointmentChanges",
    "AppointmentInput",
    "Command",
    "CommandBase",
    "CommandDecodeError",
    "CommandError",
    "CommandResult",
    "CommandState",
    "CommandType",
    "CompleteTask",
    "ContactChanges",
    "ContactInput",
    "CreateAppointment",
    "CreateContact",
    "CreateNote",
    "CreateTask",
    "CustomFieldWrite",
    "DeleteAppointment",
    "DeleteContact",
    "DeleteNote",
    "DeleteTask",
    "FollowersPayload",
    "NoteChanges",
    "NoteInput",
    "RemoveContactFollowers",
    "RemoveContactFromAllCampaigns",
    "RemoveContactFromCampaign",
    "RemoveContactFromWorkflow",
    "RemoveContactTags",
    "SetContactBusiness",
    "TagsPayload",
    "TaskChanges",
    "TaskInput",
    "UpdateAppointment",
    "UpdateContact",
    "UpdateNote",
    "UpdateTask",
    "UpsertContact",
    "command_digest",
    "command_key",
    "decode_command",
    "encode_command",
]

_Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
_Text = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_serialization_defaults_required=False,
    )


class _Payload(_Model):
    def to_ghl(self) -> dict[str, Any]:
        """The GHL request body: GHL's field names, `None` fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


def _require_some(payload: BaseModel) -> None:
    if not any(value is not None for value in payload.model_dump().values()):
        raise ValueError("payload sets no field: a change must change something")


# -- payloads -------------------------------------------------------------------------------


class CustomFieldWrite(_Payload):
    """One custom field value on write: `id` or `key`, and `field_value` (GHL's write shape)."""

    id: str | None = None
    key: str | None = None
    field_value: JsonValue = None

    @model_validator(mode="after")
    def _named(self) -> Self:
        if not (self.id or self.key):
            raise ValueError("a custom field needs `id` or `key`")
        return self


class ContactChanges(_Payload):
    """Contact fields to write; `tags` here replaces every tag (prefer the tag commands)."""

    firstName: str | None = None
    lastName: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = None
    website: str | None = None
    timezone: str | None = None
    dnd: bool | None = None
    dndSettings: DndSettings | None = None
    inboundDndSettings: dict[str, JsonValue] | None = None
    tags: list[str] | None = None
    customFields: list[CustomFieldWrite] | None = None
    source: str | None = None
    dateOfBirth: str | None = None
    assignedTo: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        _require_some(self)
        return self


class ContactInput(ContactChanges):
    """A new contact; needs `email` or `phone` (how a lost create is found again)."""

    companyName: str | None = None
    gender: str | None = None

    @model_validator(mode="after")
    def _findable(self) -> Self:
        if not (self.email or self.phone):
            raise ValueError("a contact create needs `email` or `phone`")
        return self


class TagsPayload(_Payload):
    """Tags to add or remove (GHL trims and lower-cases them)."""

    tags: list[_Text] = Field(min_length=1, max_length=100)


class FollowersPayload(_Payload):
    """User ids to add or remove as followers."""

    followers: list[_Text] = Field(min_length=1, max_length=100)


class TaskInput(_Payload):
    """A new task of a contact."""

    title: _Text
    dueDate: AwareDatetime
    completed: bool = False
    body: str | None = None
    assignedTo: str | None = None


class TaskChanges(_Payload):
    """Task fields to write."""

    title: str | None = None
    body: str | None = None
    dueDate: AwareDatetime | None = None
    completed: bool | None = None
    assignedTo: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        _require_some(self)
        return self


class NoteInput(_Payload):
    """A new note of a contact."""

    body: _Text
    userId: str | None = None
    title: str | None = None
    color: str | None = None
    pinned: bool | None = None


class NoteChanges(_Payload):
    """Note fields to write."""

    body: str | None = None
    userId: str | None = None
    title: str | None = None
    color: str | None = None
    pinned: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        _require_some(self)
        return self


class AppointmentChanges(_Payload):
    """Appointment fields to write (`AppointmentEditSchema`)."""

    calendarId: str | None = None
    startTime: AwareDatetime | None = None
    endTime: AwareDatetime | None = None
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

    @model_validator(mode="after")
    def _something(self) -> Self:
        _require_some(self)
        return self


class AppointmentInput(AppointmentChanges):
    """A new appointment of a contact (the contact is the command's `contact_id`)."""

    calendarId: _Text
    startTime: AwareDatetime


# -- commands -------------------------------------------------------------------------------


class CommandBase(_Model):
    """Fields every command carries."""

    command_id: _Id
    """Idempotency key chosen by APPNAME: the writer applies one id at most once."""
    command_type: str
    """What to do; the discriminator."""
    location_id: _Id
    """The GHL location (sub-account)."""
    correlation_id: str | None = Field(default=None, max_length=200)
    """Carried to the result and the canonical event (defaults to the command id there)."""
    issued_at: AwareDatetime | None = None
    """When APPNAME issued the command (informational)."""

    @property
    def target_contact_id(self) -> str | None:
        """The contact the command is about, when it already exists."""
        value = getattr(self, "contact_id", None)
        return value if isinstance(value, str) else None


class _OnContact(CommandBase):
    contact_id: _Id
    """GHL id of the contact."""


class _Versioned(_Model):
    expected_version: AwareDatetime | None = None
    """GHL's `dateUpdated` this change was based on; older than GHL's current is a conflict."""


class CreateContact(CommandBase):
    """`POST /contacts/`."""

    command_type: Literal["contact.create"] = "contact.create"
    payload: ContactInput


class UpsertContact(CommandBase):
    """`POST /contacts/upsert`: GHL matches by the location's duplicate rules."""

    command_type: Literal["contact.upsert"] = "contact.upsert"
    payload: ContactInput


class UpdateContact(_Versioned, _OnContact):
    """`PUT /contacts/{contactId}`."""

    command_type: Literal["contact.update"] = "contact.update"
    payload: ContactChanges


class DeleteContact(_Versioned, _OnContact):
    """`DELETE /contacts/{contactId}` (its tasks, notes and appointments go with it)."""

    command_type: Literal["contact.delete"] = "contact.delete"


class AddContactTags(_Versioned, _OnContact):
    """`POST /contacts/{contactId}/tags`."""

    command_type: Literal["contact.add_tags"] = "contact.add_tags"
    payload: TagsPayload


class RemoveContactTags(_Versioned, _OnContact):
    """`DELETE /contacts/{contactId}/tags`."""

    command_type: Literal["contact.remove_tags"] = "contact.remove_tags"
    payload: TagsPayload


class AddContactFollowers(_OnContact):
    """`POST /contacts/{contactId}/followers`."""

    command_type: Literal["contact.add_followers"] = "contact.add_followers"
    payload: FollowersPayload


class RemoveContactFollowers(_OnContact):
    """`DELETE /contacts/{contactId}/followers`."""

    command_type: Literal["contact.remove_followers"] = "contact.remove_followers"
    payload: FollowersPayload


class AddContactToCampaign(_OnContact):
    """`POST /contacts/{contactId}/campaigns/{campaignId}` (a trigger: at most once)."""

    command_type: Literal["contact.add_to_campaign"] = "contact.add_to_campaign"
    campaign_id: _Id


class RemoveContactFromCampaign(_OnContact):
    """`DELETE /contacts/{contactId}/campaigns/{campaignId}`."""

    command_type: Literal["contact.remove_from_campaign"] = "contact.remove_from_campaign"
    campaign_id: _Id


class RemoveContactFromAllCampaigns(_OnContact):
    """`DELETE /contacts/{contactId}/campaigns/removeAll`."""

    command_type: Literal["contact.remove_from_all_campaigns"] = "contact.remove_from_all_campaigns"


class AddContactToWorkflow(_OnContact):
    """`POST /contacts/{contactId}/workflow/{workflowId}` (a trigger: at most once)."""

    command_type: Literal["contact.add_to_workflow"] = "contact.add_to_workflow"
    workflow_id: _Id
    event_start_time: AwareDatetime | None = None


class RemoveContactFromWorkflow(_OnContact):
    """`DELETE /contacts/{contactId}/workflow/{workflowId}`."""

    command_type: Literal["contact.remove_from_workflow"] = "contact.remove_from_workflow"
    workflow_id: _Id


class SetContactBusiness(_OnContact):
    """`POST /contacts/bulk/business` for one contact; no `business_id` removes it."""

    command_type: Literal["contact.set_business"] = "contact.set_business"
    business_id: _Id | None = None


class CreateTask(_OnContact):
    """`POST /contacts/{contactId}/tasks`."""

    command_type: Literal["task.create"] = "task.create"
    payload: TaskInput


class UpdateTask(_OnContact):
    """`PUT /contacts/{contactId}/tasks/{taskId}`."""

    command_type: Literal["task.update"] = "task.update"
    task_id: _Id
    payload: TaskChanges


class CompleteTask(_OnContact):
    """`PUT /contacts/{contactId}/tasks/{taskId}/completed`."""

    command_type: Literal["task.complete"] = "task.complete"
    task_id: _Id
    completed: bool = True


class DeleteTask(_OnContact):
    """`DELETE /contacts/{contactId}/tasks/{taskId}`."""

    command_type: Literal["task.delete"] = "task.delete"
    task_id: _Id


class CreateNote(_OnContact):
    """`POST /contacts/{contactId}/notes`."""

    command_type: Literal["note.create"] = "note.create"
    payload: NoteInput


class UpdateNote(_OnContact):
    """`PUT /contacts/{contactId}/notes/{id}`."""

    command_type: Literal["note.update"] = "note.update"
    note_id: _Id
    payload: NoteChanges


class DeleteNote(_OnContact):
    """`DELETE /contacts/{contactId}/notes/{id}`."""

    command_type: Literal["note.delete"] = "note.delete"
    note_id: _Id


class CreateAppointment(_OnContact):
    """`POST /calendars/events/appointments` for the contact."""

    command_type: Literal["appointment.create"] = "appointment.create"
    payload: AppointmentInput


class UpdateAppointment(_Versioned, _OnContact):
    """`PUT /calendars/events/appointments/{eventId}`."""

    command_type: Literal["appointment.update"] = "appointment.update"
    appointment_id: _Id
    payload: AppointmentChanges


class DeleteAppointment(_Versioned, _OnContact):
    """`DELETE /calendars/events/{eventId}`."""

    command_type: Literal["appointment.delete"] = "appointment.delete"
    appointment_id: _Id


Command: TypeAlias = Annotated[
    CreateContact
    | UpsertContact
    | UpdateContact
    | DeleteContact
    | AddContactTags
    | RemoveContactTags
    | AddContactFollowers
    | RemoveContactFollowers
    | AddContactToCampaign
    | RemoveContactFromCampaign
    | RemoveContactFromAllCampaigns
    | AddContactToWorkflow
    | RemoveContactFromWorkflow
    | SetContactBusiness
    | CreateTask
    | UpdateTask
    | CompleteTask
    | DeleteTask
    | CreateNote
    | UpdateNote
    | DeleteNote
    | CreateAppointment
    | UpdateAppointment
    | DeleteAppointment,
    Field(discriminator="command_type"),
]
"""Every command, discriminated on `command_type` (a closed set)."""

CommandType: TypeAlias = str
"""A `command_type` value; `COMMAND_TYPES` holds the valid ones."""

COMMAND_TYPES: Mapping[str, type[CommandBase]] = {
    cls.model_fields["command_type"].default: cls
    for cls in (
        CreateContact, UpsertContact, UpdateContact, DeleteContact, AddContactTags,
        RemoveContactTags, AddContactFollowers, RemoveContactFollowers, AddContactToCampaign,
        RemoveContactFromCampaign, RemoveContactFromAllCampaigns, AddContactToWorkflow,
        RemoveContactFromWorkflow, SetContactBusiness, CreateTask, UpdateTask, CompleteTask,
        DeleteTask, CreateNote, UpdateNote, DeleteNote, CreateAppointment, UpdateAppointment,
        DeleteAppointment,
    )
}  # fmt: skip
"""`command_type` -> its class."""

_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandDecodeError:
    """Why bytes are not a valid command; `command_id` when it was readable."""

    reason: str
    command_id: str | None = None
    command_type: str | None = None


def encode_command(command: CommandBase) -> bytes:
    """Compact JSON, null fields left out."""
    return command.model_dump_json(exclude_none=True).encode()


def decode_command(data: bytes | str) -> Command | CommandDecodeError:
    """Decode a command; never raises for bad input (the reason names the failing fields)."""
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as exc:
        command_id = command_type = None
        try:
            raw = json.loads(data)
        except ValueError:
            raw = None
        if isinstance(raw, dict):
            cid, ctype = raw.get("command_id"), raw.get("command_type")
            command_id = cid if isinstance(cid, str) else None
            command_type = ctype if isinstance(ctype, str) else None
        if command_type is not None and command_type not in COMMAND_TYPES:
            reason = f"unknown command_type {command_type[:64]!r}"
        else:
            reason = describe_validation_error(exc, drop_prefix=command_type)
        return CommandDecodeError(reason=reason, command_id=command_id, command_type=command_type)


def command_key(command: CommandBase) -> str:
    """The Kafka key: `{location_id}:{contact_id}`, or `{location_id}:new:{command_id}`."""
    contact_id = command.target_contact_id
    if contact_id is None:
        return f"{command.location_id}:new:{command.command_id}"
    return f"{command.location_id}:{contact_id}"


def command_digest(command: CommandBase) -> str:
    """SHA-256 of the command's canonical JSON: equal digests, same command."""
    data = command.model_dump(mode="json", exclude_none=True)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# -- results --------------------------------------------------------------------------------

CommandState: TypeAlias = Literal["accepted", "received", "succeeded", "failed", "rejected"]
"""`accepted` (on the topic), `received` (the writer is on it), then one terminal state:
`succeeded`, `failed` (GHL refused it, or its outcome cannot be known), `rejected` (conflict)."""


class CommandError(_Model):
    """Why a command failed: GHL's status and messages, or our reason."""

    code: str
    """`validation`, `not_found`, `auth`, `outcome_unknown`, `conflict`, `duplicate_id`."""
    message: str
    status_code: int | None = None
    messages: list[str] = []
    trace_id: str | None = None


class CommandResult(_Model):
    """A command's terminal outcome on `appname.command-results.v1`, keyed like the command."""

    command_id: str
    command_type: str
    location_id: str
    contact_id: str | None = None
    """The contact, including one the command created."""
    state: Literal["succeeded", "failed", "rejected"]
    entity_type: Literal["contact", "task", "note", "appointment"] | None = None
    entity_id: str | None = None
    """GHL id of the entity the command created or changed."""
    snapshot: dict[str, JsonValue] | None = None
    """GHL's answer (the entity as GHL holds it after the change)."""
    error: CommandError | None = None
    conflict: dict[str, JsonValue] | None = None
    """The recorded conflict, when `expected_version` was older than GHL's."""
    adopted: bool = False
    """True when a create's outcome was unknown and the writer found the created record."""
    attempts: int = 0
    """Requests the writer sent for the command."""
    correlation_id: str | None = None
    completed_at: datetime
