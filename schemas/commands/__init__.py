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

The package is split by what it holds: `payloads` (GHL's request bodies from `requests`, with
the commands' rules), `contact` and `activities` (the two command families), `registry` (the
closed union, decoding, keys, digests) and `results`.
"""

from __future__ import annotations

from schemas.commands._base import (
    CommandBase,
)
from schemas.commands.activities import (
    CompleteTask,
    CreateAppointment,
    CreateNote,
    CreateTask,
    DeleteAppointment,
    DeleteNote,
    DeleteTask,
    UpdateAppointment,
    UpdateNote,
    UpdateTask,
)
from schemas.commands.contact import (
    AddContactFollowers,
    AddContactTags,
    AddContactToCampaign,
    AddContactToWorkflow,
    CreateContact,
    DeleteContact,
    RemoveContactFollowers,
    RemoveContactFromAllCampaigns,
    RemoveContactFromCampaign,
    RemoveContactFromWorkflow,
    RemoveContactTags,
    SetContactBusiness,
    UpdateContact,
    UpsertContact,
)
from schemas.commands.payloads import (
    AppointmentChanges,
    AppointmentInput,
    ContactChanges,
    ContactInput,
    CustomFieldWrite,
    FollowersPayload,
    NoteChanges,
    NoteInput,
    TagsPayload,
    TaskChanges,
    TaskInput,
)
from schemas.commands.registry import (
    COMMAND_TYPES,
    Command,
    CommandDecodeError,
    CommandType,
    command_digest,
    command_key,
    decode_command,
    encode_command,
)
from schemas.commands.results import (
    CommandError,
    CommandResult,
    CommandState,
)

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
