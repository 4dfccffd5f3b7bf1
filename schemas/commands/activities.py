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


class _OnTask(OnContact):
    """A command about one task of the contact."""

    task_id: Id


class _OnNote(OnContact):
    """A command about one note of the contact."""

    note_id: Id


class _OnAppointment(Versioned, OnContact):
    """A command about one appointment of the contact."""

    appointment_id: Id


class CreateTask(OnContact):
    """`POST /contacts/{contactId}/tasks`."""

    command_type: Literal["task.create"] = "task.create"
    payload: TaskInput


class UpdateTask(_OnTask):
    """`PUT /contacts/{contactId}/tasks/{taskId}`."""

    command_type: Literal["task.update"] = "task.update"
    payload: TaskChanges


class CompleteTask(_OnTask):
    """`PUT /contacts/{contactId}/tasks/{taskId}/completed`."""

    command_type: Literal["task.complete"] = "task.complete"
    completed: bool = True


class DeleteTask(_OnTask):
    """`DELETE /contacts/{contactId}/tasks/{taskId}`."""

    command_type: Literal["task.delete"] = "task.delete"


class CreateNote(OnContact):
    """`POST /contacts/{contactId}/notes`."""

    command_type: Literal["note.create"] = "note.create"
    payload: NoteInput


class UpdateNote(_OnNote):
    """`PUT /contacts/{contactId}/notes/{id}`."""

    command_type: Literal["note.update"] = "note.update"
    payload: NoteChanges


class DeleteNote(_OnNote):
    """`DELETE /contacts/{contactId}/notes/{id}`."""

    command_type: Literal["note.delete"] = "note.delete"


class CreateAppointment(OnContact):
    """`POST /calendars/events/appointments` for the contact."""

    command_type: Literal["appointment.create"] = "appointment.create"
    payload: AppointmentInput


class UpdateAppointment(_OnAppointment):
    """`PUT /calendars/events/appointments/{eventId}`."""

    command_type: Literal["appointment.update"] = "appointment.update"
    payload: AppointmentChanges


class DeleteAppointment(_OnAppointment):
    """`DELETE /calendars/events/{eventId}`."""

    command_type: Literal["appointment.delete"] = "appointment.delete"
