"""Tasks, notes and appointments: `apps/contacts.json`, the location task search of
`apps/locations.json`, and the appointment operations of `apps/calendars.json`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from schemas.ghl import Appointment, Note, Task
from services.ghl._contacts import field, items, succeeded
from services.ghl._core import ClientCore, Json, operation
from services.ghl._operations import OPERATIONS
from services.ghl._ratelimit import Priority
from services.ghl.requests import (
    AppointmentCreate,
    AppointmentUpdate,
    NoteCreate,
    NoteUpdate,
    TaskCreate,
    TaskSearch,
    TaskUpdate,
)

__all__ = ["Calendar"]

_R = TypeVar("_R", Task, Note)

_READ = Priority.POLL
_WRITE = Priority.WRITE


def _epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _appointment(body: Json, operation_id: str) -> Appointment:
    # The spec answers create/edit with the bare event (AppointmentSchemaResponse); accept
    # the `{event: ...}` wrapper of the reads too.
    if isinstance(body, dict) and isinstance(body.get("event"), dict):
        return field(Appointment, body, "event", operation_id)
    return Appointment.model_validate(body)


@dataclass(frozen=True, slots=True)
class _ContactRecords(Generic[_R]):
    """Tasks or notes: records kept under a contact, answered as `{one: record}` or
    `{many: [record, ...]}`."""

    model: type[_R]
    one: str
    many: str
    id_param: str
    """The path placeholder of a record's id."""

    def path(self, contact_id: str, record_id: str | None = None) -> dict[str, str]:
        """The path values of the contact (and of one of its records)."""
        if record_id is None:
            return {"contactId": contact_id}
        return {"contactId": contact_id, self.id_param: record_id}


_TASKS = _ContactRecords(Task, "task", "tasks", "taskId")
_NOTES = _ContactRecords(Note, "note", "notes", "id")


class Calendar(BaseModel):
    """A calendar of a location (`CalendarDTO`; the fields the sync needs, the rest kept)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    locationId: str | None = None
    groupId: str | None = None
    name: str | None = None
    isActive: bool | None = None


class ActivitiesOps(ClientCore):
    """Tasks, notes and appointments of contacts."""

    async def list_calendars(
        self, location_id: str, *, group_id: str | None = None, priority: Priority = _READ
    ) -> list[Calendar]:
        """`GET /calendars/`: every calendar of the location (of one group with `group_id`)."""
        body = await self._call(
            "get-calendars",
            location_id,
            params={"locationId": location_id, "groupId": group_id},
            priority=priority,
        )
        return items(Calendar, body, "calendars")

    # Catalogued once the operations table lists it (the simulator serves it from then on).
    if "get-calendars" in OPERATIONS:
        list_calendars = operation("get-calendars")(list_calendars)

    async def _records(
        self,
        kind: _ContactRecords[_R],
        operation_id: str,
        location_id: str,
        contact_id: str,
        priority: Priority,
    ) -> list[_R]:
        body = await self._call(
            operation_id, location_id, path=kind.path(contact_id), priority=priority
        )
        return items(kind.model, body, kind.many)

    async def _record(
        self,
        kind: _ContactRecords[_R],
        operation_id: str,
        location_id: str,
        path: dict[str, str],
        priority: Priority,
        json: Json = None,
    ) -> _R:
        body = await self._call(operation_id, location_id, path=path, json=json, priority=priority)
        return field(kind.model, body, kind.one, operation_id)

    @operation("get-all-tasks")
    async def list_tasks(
        self, location_id: str, contact_id: str, *, priority: Priority = _READ
    ) -> list[Task]:
        """`GET /contacts/{contactId}/tasks`."""
        return await self._records(_TASKS, "get-all-tasks", location_id, contact_id, priority)

    @operation("get-task")
    async def get_task(
        self, location_id: str, contact_id: str, task_id: str, *, priority: Priority = _READ
    ) -> Task:
        """`GET /contacts/{contactId}/tasks/{taskId}`."""
        path = _TASKS.path(contact_id, task_id)
        return await self._record(_TASKS, "get-task", location_id, path, priority)

    @operation("create-task")
    async def create_task(
        self, location_id: str, contact_id: str, task: TaskCreate, *, priority: Priority = _WRITE
    ) -> Task:
        """`POST /contacts/{contactId}/tasks`. Not idempotent: a lost answer raises
        `OutcomeUnknown`."""
        path = _TASKS.path(contact_id)
        return await self._record(
            _TASKS, "create-task", location_id, path, priority, task.to_json()
        )

    @operation("update-task")
    async def update_task(
        self,
        location_id: str,
        contact_id: str,
        task_id: str,
        changes: TaskUpdate,
        *,
        priority: Priority = _WRITE,
    ) -> Task:
        """`PUT /contacts/{contactId}/tasks/{taskId}`."""
        path = _TASKS.path(contact_id, task_id)
        return await self._record(
            _TASKS, "update-task", location_id, path, priority, changes.to_json()
        )

    @operation("update-task-completed")
    async def complete_task(
        self,
        location_id: str,
        contact_id: str,
        task_id: str,
        completed: bool = True,
        *,
        priority: Priority = _WRITE,
    ) -> Task:
        """`PUT /contacts/{contactId}/tasks/{taskId}/completed`."""
        path = _TASKS.path(contact_id, task_id)
        return await self._record(
            _TASKS, "update-task-completed", location_id, path, priority, {"completed": completed}
        )

    @operation("delete-task")
    async def delete_task(
        self, location_id: str, contact_id: str, task_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`DELETE /contacts/{contactId}/tasks/{taskId}`."""
        path = _TASKS.path(contact_id, task_id)
        return succeeded(await self._call("delete-task", location_id, path=path, priority=priority))

    @operation("task-search")
    async def search_tasks(
        self, location_id: str, search: TaskSearch, *, priority: Priority = _READ
    ) -> list[Task]:
        """`POST /locations/{locationId}/tasks/search`: one page (see `iter_tasks`)."""
        body = await self._call(
            "task-search",
            location_id,
            path={"locationId": location_id},
            json=search.to_json(),
            priority=priority,
        )
        return items(Task, body, "tasks")

    @operation("get-all-notes")
    async def list_notes(
        self, location_id: str, contact_id: str, *, priority: Priority = _READ
    ) -> list[Note]:
        """`GET /contacts/{contactId}/notes`."""
        return await self._records(_NOTES, "get-all-notes", location_id, contact_id, priority)

    @operation("get-note")
    async def get_note(
        self, location_id: str, contact_id: str, note_id: str, *, priority: Priority = _READ
    ) -> Note:
        """`GET /contacts/{contactId}/notes/{id}`."""
        path = _NOTES.path(contact_id, note_id)
        return await self._record(_NOTES, "get-note", location_id, path, priority)

    @operation("create-note")
    async def create_note(
        self, location_id: str, contact_id: str, note: NoteCreate, *, priority: Priority = _WRITE
    ) -> Note:
        """`POST /contacts/{contactId}/notes`. Not idempotent: a lost answer raises
        `OutcomeUnknown`."""
        path = _NOTES.path(contact_id)
        return await self._record(
            _NOTES, "create-note", location_id, path, priority, note.to_json()
        )

    @operation("update-note")
    async def update_note(
        self,
        location_id: str,
        contact_id: str,
        note_id: str,
        changes: NoteUpdate,
        *,
        priority: Priority = _WRITE,
    ) -> Note:
        """`PUT /contacts/{contactId}/notes/{id}`."""
        path = _NOTES.path(contact_id, note_id)
        return await self._record(
            _NOTES, "update-note", location_id, path, priority, changes.to_json()
        )

    @operation("delete-note")
    async def delete_note(
        self, location_id: str, contact_id: str, note_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`DELETE /contacts/{contactId}/notes/{id}`."""
        path = _NOTES.path(contact_id, note_id)
        return succeeded(await self._call("delete-note", location_id, path=path, priority=priority))

    @operation("get-appointments-for-contact")
    async def list_contact_appointments(
        self, location_id: str, contact_id: str, *, priority: Priority = _READ
    ) -> list[Appointment]:
        """`GET /contacts/{contactId}/appointments`."""
        body = await self._call(
            "get-appointments-for-contact",
            location_id,
            path={"contactId": contact_id},
            priority=priority,
        )
        return items(Appointment, body, "events")

    @operation("get-appointment")
    async def get_appointment(
        self, location_id: str, event_id: str, *, priority: Priority = _READ
    ) -> Appointment:
        """`GET /calendars/events/appointments/{eventId}`."""
        body = await self._call(
            "get-appointment", location_id, path={"eventId": event_id}, priority=priority
        )
        return field(Appointment, body, "event", "get-appointment")

    @operation("get-calendar-events")
    async def list_calendar_events(
        self,
        location_id: str,
        *,
        start_time: datetime,
        end_time: datetime,
        calendar_id: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        priority: Priority = _READ,
    ) -> list[Appointment]:
        """`GET /calendars/events`: needs one of calendar, user or group."""
        if not (calendar_id or user_id or group_id):
            raise ValueError("list_calendar_events needs calendar_id, user_id or group_id")
        body = await self._call(
            "get-calendar-events",
            location_id,
            params={
                "locationId": location_id,
                "startTime": _epoch_ms(start_time),
                "endTime": _epoch_ms(end_time),
                "calendarId": calendar_id,
                "userId": user_id,
                "groupId": group_id,
            },
            priority=priority,
        )
        return items(Appointment, body, "events")

    @operation("create-appointment")
    async def create_appointment(
        self, location_id: str, appointment: AppointmentCreate, *, priority: Priority = _WRITE
    ) -> Appointment:
        """`POST /calendars/events/appointments`. Not idempotent: a lost answer raises
        `OutcomeUnknown`."""
        body = await self._call(
            "create-appointment",
            location_id,
            json={"locationId": location_id, **appointment.to_json()},
            priority=priority,
        )
        return _appointment(body, "create-appointment")

    @operation("edit-appointment")
    async def update_appointment(
        self,
        location_id: str,
        event_id: str,
        changes: AppointmentUpdate,
        *,
        priority: Priority = _WRITE,
    ) -> Appointment:
        """`PUT /calendars/events/appointments/{eventId}`."""
        body = await self._call(
            "edit-appointment",
            location_id,
            path={"eventId": event_id},
            json=changes.to_json(),
            priority=priority,
        )
        return _appointment(body, "edit-appointment")

    @operation("delete-event")
    async def delete_appointment(
        self, location_id: str, event_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`DELETE /calendars/events/{eventId}`."""
        body = await self._call(
            "delete-event", location_id, path={"eventId": event_id}, json={}, priority=priority
        )
        return succeeded(body)
