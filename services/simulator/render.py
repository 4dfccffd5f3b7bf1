"""How the simulator writes GHL entities on the wire.

Times: contacts, tasks and notes as ISO-8601 UTC with milliseconds and `Z`
(`2026-01-10T12:00:00.000Z`), appointments with an explicit offset (`+00:00`), as the calendar
API does. Unset fields are left out rather than sent as `null` (GHL omits them).

REST shapes follow the spec's schemas: a task has no `dateAdded`/`dateUpdated` on REST
(`TaskSchema`), a note has `dateAdded` but no `dateUpdated` (`GetNoteSchema`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from schemas.ghl import Appointment, Contact, Note, Task

__all__ = [
    "appointment_rest",
    "contact_rest",
    "iso_ms",
    "iso_offset",
    "jsonable",
    "note_rest",
    "task_rest",
]

_TASK_REST = ("id", "title", "body", "assignedTo", "dueDate", "completed", "contactId")
_NOTE_REST = ("id", "body", "userId", "dateAdded", "contactId", "title", "color", "pinned")
_EVENT_REST = (
    "id",
    "calendarId",
    "status",
    "title",
    "assignedUserId",
    "notes",
    "startTime",
    "endTime",
    "address",
    "locationId",
    "contactId",
    "groupId",
    "appointmentStatus",
    "users",
    "dateAdded",
    "dateUpdated",
    "assignedResources",
)


def iso_ms(value: datetime) -> str:
    """`2026-01-10T12:00:00.000Z`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_offset(value: datetime) -> str:
    """`2026-01-10T12:00:00+00:00` (calendar API style)."""
    return value.astimezone(UTC).isoformat(timespec="seconds")


def jsonable(value: Any, *, offset_times: bool = False) -> Any:
    """Turn a dumped model into JSON values, writing times GHL's way."""
    if isinstance(value, datetime):
        return iso_offset(value) if offset_times else iso_ms(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v, offset_times=offset_times) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, offset_times=offset_times) for v in value]
    return value


def contact_rest(contact: Contact) -> dict[str, Any]:
    """A contact as `GET /contacts/{id}` returns it."""
    data = contact.model_dump(exclude_none=True)
    return dict(jsonable(data))


def task_rest(task: Task) -> dict[str, Any]:
    """A task as the task endpoints return it (`TaskSchema`)."""
    data = task.model_dump(exclude_none=True, include=set(_TASK_REST))
    return dict(jsonable(data))


def note_rest(note: Note) -> dict[str, Any]:
    """A note as the note endpoints return it (`GetNoteSchema`)."""
    data = note.model_dump(exclude_none=True, include=set(_NOTE_REST))
    return dict(jsonable(data))


def appointment_rest(appointment: Appointment, *, full: bool = True) -> dict[str, Any]:
    """An appointment: `CalendarEventDTO` when `full`, else the contact route's `GetEventSchema`."""
    if full:
        data = appointment.model_dump(exclude_none=True)
    else:
        data = appointment.model_dump(exclude_none=True, include=set(_EVENT_REST))
    return dict(jsonable(data, offset_times=True))
