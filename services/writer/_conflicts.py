"""Optimistic concurrency: a command's `expected_version` against GHL's current `dateUpdated`.

A command carrying `expected_version` (contact update, delete and tag changes; appointment
update and delete) is compared once, before its first request: GHL's record is read, and when
its `dateUpdated` is newer the configured policy decides and the conflict is recorded:

- `reject`: nothing is written; the command ends `rejected` (code `conflict`).
- `force`: the command is applied as sent.
- `merge` (by field): the fields the command names are written and every other field keeps
  GHL's newer value (GHL's PUT leaves unnamed fields alone); a contact update's `tags`, which
  GHL would replace wholesale, become the union of GHL's current tags and the command's, so a
  tag added in GHL meanwhile survives. Tag commands are incremental and merge as they are. A
  delete cannot be merged with a newer change: under `merge` it is rejected.

`phase = 'sent'` is committed after the check, so a retry after a timeout (when our own write
may already have moved `dateUpdated`) does not mistake our change for a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import (
    AddContactTags,
    CommandBase,
    CommandError,
    ContactChanges,
    DeleteAppointment,
    DeleteContact,
    RemoveContactTags,
    UpdateAppointment,
    UpdateContact,
)
from services.db.commands import CommandRow, WriterStore
from services.ghl import GhlClient, Priority
from services.writer._outcome import EntityKind, Outcome
from services.writer.settings import WriterSettings

__all__ = ["ConflictCheck", "check_conflict"]


@dataclass(frozen=True)
class ConflictCheck:
    """What the check decided: stop with `outcome`, or go on (with a merged payload)."""

    outcome: Outcome | None = None
    conflict: dict[str, Any] | None = None
    merged_payload: ContactChanges | None = None


async def _current(client: GhlClient, cmd: CommandBase) -> tuple[EntityKind, str, Any]:
    if isinstance(cmd, UpdateAppointment | DeleteAppointment):
        appt = await client.get_appointment(
            cmd.location_id, cmd.appointment_id, priority=Priority.WRITE
        )
        return "appointment", cmd.appointment_id, appt
    contact_id = cmd.target_contact_id
    assert contact_id is not None
    contact = await client.get_contact(cmd.location_id, contact_id, priority=Priority.WRITE)
    return "contact", contact_id, contact


def _merge(cmd: UpdateContact, current_tags: list[str] | None) -> ContactChanges:
    if cmd.payload.tags is None:
        return cmd.payload
    union = list(dict.fromkeys([*(current_tags or []), *cmd.payload.tags]))
    return cmd.payload.model_copy(update={"tags": union})


async def check_conflict(
    client: GhlClient,
    store: WriterStore,
    cmd: CommandBase,
    row: CommandRow,
    settings: WriterSettings,
) -> ConflictCheck:
    """Compare `expected_version` with GHL's, apply the policy; see the module docstring."""
    expected: datetime | None = getattr(cmd, "expected_version", None)
    if expected is None or not isinstance(
        cmd,
        UpdateContact
        | DeleteContact
        | AddContactTags
        | RemoveContactTags
        | UpdateAppointment
        | DeleteAppointment,
    ):
        return ConflictCheck()
    if row.phase == "sent":
        return ConflictCheck()  # checked before the first send; see the module docstring
    kind, entity_id, current = await _current(client, cmd)
    current_version: datetime | None = current.dateUpdated
    if current_version is None or current_version <= expected:
        await store.mark_sent(cmd.command_id)
        return ConflictCheck()
    policy = settings.conflict_policy
    if policy == "merge" and isinstance(cmd, DeleteContact | DeleteAppointment):
        action = "rejected"
    else:
        action = {"reject": "rejected", "force": "forced", "merge": "merged"}[policy]
    payload = getattr(cmd, "payload", None)
    named = sorted(payload.to_ghl()) if payload is not None else []
    merged = None
    if action == "merged" and isinstance(cmd, UpdateContact):
        merged = _merge(cmd, current.tags)
    resolution: dict[str, Any] = {"action": action, "fields_from_command": named}
    if merged is not None and merged.tags is not None:
        resolution["tags"] = list(merged.tags)
    conflict = {
        "location_id": cmd.location_id,
        "entity_type": kind,
        "entity_id": entity_id,
        "expected_version": expected.isoformat(),
        "current_version": current_version.isoformat(),
        "policy": policy,
        "resolution": resolution,
    }
    if action == "rejected":
        return ConflictCheck(
            outcome=Outcome(
                "rejected",
                contact_id=cmd.target_contact_id,
                entity_type=kind,
                entity_id=entity_id,
                conflict=conflict,
                error=CommandError(
                    code="conflict",
                    message=f"{kind} {entity_id} changed in GHL at {current_version.isoformat()}"
                    f", after the expected version {expected.isoformat()} (policy {policy})",
                ),
            ),
            conflict=conflict,
        )
    await store.mark_sent(cmd.command_id)
    return ConflictCheck(conflict=conflict, merged_payload=merged)
