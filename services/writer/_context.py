"""What a command handler works with: the client, the store, the clock, and outcome builders.

A handler is `async (ApplyContext, command) -> Outcome`; `handler()` pairs one with its command
class and the GHL operation it performs, type-checked so a handler cannot be filed under another
command's class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from schemas import (
    Appointment,
    AppointmentUpserted,
    CommandBase,
    Contact,
    ContactUpserted,
    Event,
    Note,
    NoteUpserted,
    Task,
    TaskUpserted,
)
from services.db.commands import CommandRow, WriterStore
from services.ghl import GhlClient, Priority
from services.writer._conflicts import ConflictCheck
from services.writer._outcome import EntityKind, Outcome
from services.writer.settings import WriterSettings

__all__ = ["WRITE", "ApplyContext", "Entity", "HandlerEntry", "handler"]

WRITE = Priority.WRITE
"""Every request of the writer goes at write priority, ahead of the poller and the backfill."""

Entity = Contact | Task | Note | Appointment

_C = TypeVar("_C", bound=CommandBase)


@dataclass(frozen=True, slots=True)
class ApplyContext:
    """One command's application: its stored row, its conflict check and the writer's parts."""

    client: GhlClient
    store: WriterStore
    settings: WriterSettings
    clock: Callable[[], datetime]
    row: CommandRow
    check: ConflictCheck

    def meta(self, cmd: CommandBase) -> dict[str, Any]:
        """The canonical events' provenance: the writer, caused by the command."""
        return {
            "source": "writer",
            "observed_at": self.clock(),
            "causation_id": cmd.command_id,
            "correlation_id": cmd.correlation_id or cmd.command_id,
        }

    def done(
        self,
        cmd: CommandBase,
        kind: EntityKind,
        entity_id: str | None,
        snapshot: dict[str, Any] | None = None,
        events: Sequence[Event] = (),
    ) -> Outcome:
        """Succeeded, on `entity_id` of `kind`, with GHL's answer and the events it makes."""
        return Outcome(
            "succeeded",
            contact_id=cmd.target_contact_id if kind != "contact" else entity_id,
            entity_type=kind,
            entity_id=entity_id,
            snapshot=snapshot,
            events=list(events),
            ghl_done_at=self.clock(),
        )

    def entity_done(self, cmd: CommandBase, entity: Entity) -> Outcome:
        """Succeeded with GHL's record as the snapshot and its upserted event."""
        meta = self.meta(cmd)
        loc, contact_id = cmd.location_id, cmd.target_contact_id
        event: Event
        kind: EntityKind
        if isinstance(entity, Contact):
            kind, event = "contact", ContactUpserted.build(location_id=loc, contact=entity, **meta)
        elif isinstance(entity, Task):
            kind = "task"
            event = TaskUpserted.build(location_id=loc, task=entity, contact_id=contact_id, **meta)
        elif isinstance(entity, Note):
            kind = "note"
            event = NoteUpserted.build(location_id=loc, note=entity, contact_id=contact_id, **meta)
        else:
            kind = "appointment"
            event = AppointmentUpserted.build(
                location_id=loc, appointment=entity, contact_id=contact_id, **meta
            )
        snapshot = entity.model_dump(mode="json", exclude_none=True)
        return self.done(cmd, kind, entity.id, snapshot, [event])


@dataclass(frozen=True, slots=True)
class HandlerEntry:
    """One row of the writer's handler table."""

    command: type[CommandBase]
    operation: str
    """The GHL operation (catalog name) the handler performs."""
    handle: Callable[[ApplyContext, Any], Awaitable[Outcome]]


def handler(
    command: type[_C], operation: str, handle: Callable[[ApplyContext, _C], Awaitable[Outcome]]
) -> HandlerEntry:
    """A table row; the type checker holds `handle` to the command class it is filed under."""
    return HandlerEntry(command=command, operation=operation, handle=handle)
