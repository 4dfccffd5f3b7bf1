"""One shape per entity type for every snapshot ghl-sync writes, whoever read it.

Event ids digest the payload, so the same state read by a webhook fetch, a poll and a backfill
must serialise identically. GHL's list answers add keys the single reads lack: search hits carry
their `searchAfter` cursor, task-search items their `locationId`. Those are dropped here.
Appointments are always taken from `GET /contacts/{id}/appointments` (`GetEventSchema`), never
from `GET /calendars/events/appointments/{id}` (more fields) or the webhook (fewer).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from schemas.ghl import Contact, Task

__all__ = ["canonical_contact", "canonical_task"]

_M = TypeVar("_M", bound=BaseModel)


def _without(model: _M, key: str) -> _M:
    """`model` without the extra `key` (the same object when it has none)."""
    if key not in (model.model_extra or {}):
        return model
    data = model.model_dump(exclude_unset=True)
    data.pop(key, None)
    return type(model).model_validate(data)


def canonical_contact(contact: Contact) -> Contact:
    """The contact without a search hit's `searchAfter` cursor."""
    return _without(contact, "searchAfter")


def canonical_task(task: Task) -> Task:
    """The task as `GET /contacts/{id}/tasks/{taskId}` has it (no search `locationId`)."""
    return _without(task, "locationId")
