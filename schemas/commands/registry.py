"""The closed set of commands: the `Command` union, `COMMAND_TYPES`, decoding, keys, digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, TypeAlias, get_args

from pydantic import Field, TypeAdapter, ValidationError

from schemas._reasons import describe_validation_error
from schemas.commands import activities as a
from schemas.commands import contact as c
from schemas.commands._base import CommandBase

__all__ = [
    "COMMAND_TYPES",
    "Command",
    "CommandDecodeError",
    "CommandType",
    "command_digest",
    "command_key",
    "decode_command",
    "encode_command",
]

Command: TypeAlias = Annotated[
    c.CreateContact
    | c.UpsertContact
    | c.UpdateContact
    | c.DeleteContact
    | c.AddContactTags
    | c.RemoveContactTags
    | c.AddContactFollowers
    | c.RemoveContactFollowers
    | c.AddContactToCampaign
    | c.RemoveContactFromCampaign
    | c.RemoveContactFromAllCampaigns
    | c.AddContactToWorkflow
    | c.RemoveContactFromWorkflow
    | c.SetContactBusiness
    | a.CreateTask
    | a.UpdateTask
    | a.CompleteTask
    | a.DeleteTask
    | a.CreateNote
    | a.UpdateNote
    | a.DeleteNote
    | a.CreateAppointment
    | a.UpdateAppointment
    | a.DeleteAppointment,
    Field(discriminator="command_type"),
]
"""Every command, discriminated on `command_type` (a closed set)."""

CommandType: TypeAlias = str
"""A `command_type` value; `COMMAND_TYPES` holds the valid ones."""

_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

COMMAND_TYPES: Mapping[str, type[CommandBase]] = {
    cls.model_fields["command_type"].default: cls for cls in get_args(get_args(Command)[0])
}
"""`command_type` -> its class, read from the `Command` union (declared once, there)."""


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
