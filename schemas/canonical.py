"""One shape per entity type for every snapshot ghl-sync writes, whoever read it.

Event ids digest the payload, so the same state read by a webhook fetch, a poll and a backfill
must serialise identically. GHL's list answers add keys the single reads lack: search hits carry
their `searchAfter` cursor, task-search items their `locationId`. Those are dropped here.
Appointments are always taken from `GET /contacts/{id}/appointments` (`GetEventSchema`), never
from `GET /calendars/events/appointments/{id}` (more fields) or the webhook (fewer).
"""

from __future__ import annotations

from schemas.ghl import Contact, Task

__all__ = ["canonical_contact", "canonical_task"]


def canonical_contact(contact: Contact) -> Contact:
    """The contact without a search hit's `searchAfter` cursor."""
    extra = contact.model_extra or {}
    if "searchAfter" not in extra:
        return contact
    data = contact.model_dump(exclude_unset=True)
    data.pop("searchAfter", None)
    return Contact.model_validate(data)


def canonical_task(task: Task) -> Task:
    """The task as `GET /contacts/{id}/tasks/{taskId}` has it (no search `locationId`)."""
    extra = task.model_extra or {}
    if "locationId" not in extra:
        return task
    data = task.model_dump(exclude_unset=True)
    data.pop("locationId", None)
    return Task.model_validate(data)
