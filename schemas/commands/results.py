"""A command's outcome on `appname.command-results.v1`: `CommandResult` and `CommandError`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

from pydantic import JsonValue

from schemas.commands._base import Model

__all__ = ["CommandError", "CommandResult", "CommandState"]

CommandState: TypeAlias = Literal["accepted", "received", "succeeded", "failed", "rejected"]
"""`accepted` (on the topic), `received` (the writer is on it), then one terminal state:
`succeeded`, `failed` (GHL refused it, or its outcome cannot be known), `rejected` (conflict)."""


class CommandError(Model):
    """Why a command failed: GHL's status and messages, or our reason."""

    code: str
    """`validation`, `not_found`, `auth`, `outcome_unknown`, `conflict`, `duplicate_id`."""
    message: str
    status_code: int | None = None
    messages: list[str] = []  # noqa: RUF012 (a pydantic field: pydantic copies the default)
    trace_id: str | None = None


class CommandResult(Model):
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
