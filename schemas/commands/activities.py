"""Commands on a contact's tasks, notes and appointments."""

from __future__ import annotations

from typing import Literal

from schemas.commands._base import Id, OnContact, Versioned
from schemas.commands.payloads import (
    AppointmentChanges,
    AppointmentInput,
    NoteChanges,
    NoteInput,
    TaskChanges,
    TaskInput,
)

__all__ = [
    "CompleteTask",
    "CreateAppointment",
    "CreateNote",
    "CreateTask",
    "DeleteAppointment",
    "DeleteNote",
    "DeleteTask",
    "UpdateAppointment",
    "UpdateNote",
    "UpdateTask",
]


class CreateTask(OnContact):
    """`POST /contacts/{contactId}/tasks`."""

    command_type: Literal["task.create"] = "task.create"
    payload: TaskInput


class UpdateTask(OnContact):
    """`PUT /contacts/{contactId}/tasks/{taskId}`."""

    command_type: Literal["task.update"] = "task.update"
    task_id: Id
    payload: TaskChanges


class CompleteTask(OnContact):
    """`PUT /contacts/{contactId}/tasks/{taskId}/completed`."""

    command_type: Literal["task.complete"] = "task.complete"
    task_id: Id
    completed: bool = True


class DeleteTask(OnContact):
    """`DELETE /contacts/{contactId}/tasks/{taskId}`."""

    command_type: Literal["task.delete"] = "task.delete"
    task_id: Id


class CreateNote(OnContact):
    """`POST /contacts/{contactId}/notes`."""

    command_type: Literal["note.create"] = "note.create"
    payload: NoteInput


class UpdateNote(OnContact):
    """`PUT /contacts/{contactId}/notes/{id}`."""

    command_type: Literal["note.update"] = "note.update"
    note_id: Id
    payload: NoteChanges


class DeleteNote(OnContact):
    """`DELETE /contacts/{contactId}/notes/{id}`."""

    command_type: Literal["note.delete"] = "note.delete"
    note_id: Id


class CreateAppointment(OnContact):
    """`POST /calendars/events/appointments` for the contact."""

    command_type: Literal["appointment.create"] = "appointment.create"
    payload: AppointmentInput


class UpdateAppointment(Versioned, OnContact):
    """`PUT /calendars/events/appointments/{eventId}`."""

    command_type: Literal["appointment.update"] = "appointment.update"
    appointment_id: Id
    payload: AppointmentChanges


class DeleteAppointment(Versioned, OnContact):
    """`DELETE /calendars/events/{eventId}`."""

    command_type: Literal["appointment.delete"] = "appointment.delete"
    appointment_id: Id
