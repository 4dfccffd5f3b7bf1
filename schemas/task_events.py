"""Task events: `task.upserted` (full snapshot) and `task.deleted` (tombstone).

GHL sends no TaskUpdate webhook; edits other than completion reach us only through polling.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self, Unpack

from schemas._envelope import DeletedEvent, UpsertedEvent, _resolve_contact_id
from schemas._event_fields import _BuildArgs
from schemas.ghl import Task

__all__ = ["TaskDeleted", "TaskUpserted"]


class TaskUpserted(UpsertedEvent[Task]):
    """A task was created, completed or changed in GHL; the payload is its snapshot."""

    event_type: Literal["task.upserted"] = "task.upserted"
    schema_version: Literal[1] = 1
    entity_type: Literal["task"] = "task"

    @classmethod
    def build(
        cls, *, task: Task, contact_id: str | None = None, **facts: Unpack[_BuildArgs]
    ) -> Self:
        """Make the event for a task snapshot, with its deterministic `event_id`.

        The contact is the task's `contactId`; `contact_id` is used only when the task has
        none, and `MissingContactIdError` is raised when neither is known. `occurred_at`
        defaults to the task's `dateUpdated`.
        """
        contact = _resolve_contact_id(task, task.contactId, contact_id)
        return cls._from_snapshot(payload=task, contact_id=contact, **facts)


class TaskDeleted(DeletedEvent):
    """A task was deleted in GHL."""

    event_type: Literal["task.deleted"] = "task.deleted"
    schema_version: Literal[1] = 1
    entity_type: Literal["task"] = "task"

    @classmethod
    def build(
        cls,
        *,
        task_id: str,
        contact_id: str,
        deleted_at: datetime | None = None,
        **facts: Unpack[_BuildArgs],
    ) -> Self:
        """Make the tombstone event for a task; `occurred_at` defaults to `deleted_at`."""
        return cls._from_tombstone(
            entity_id=task_id, contact_id=contact_id, deleted_at=deleted_at, **facts
        )
