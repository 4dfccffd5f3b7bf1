"""Find a record for a caller: 400 `... not found for id:...` or 403 for another location's."""

from __future__ import annotations

from schemas.ghl import Appointment, Contact, Note, Task
from services.simulator._errors import not_found
from services.simulator.auth import Caller
from services.simulator.state import SimulatorState

__all__ = ["appointment_for", "contact_for", "note_for", "task_for"]


def contact_for(state: SimulatorState, caller: Caller, contact_id: str) -> Contact:
    """The caller's contact `contact_id`."""
    owner = state.owner(contact_id)
    if owner is None or contact_id not in state.locations[owner].contacts:
        raise not_found("Contact", contact_id)
    caller.check_location(owner)
    return caller.location.contacts[contact_id]


def task_for(state: SimulatorState, caller: Caller, contact_id: str, task_id: str) -> Task:
    """Task `task_id` of the caller's contact `contact_id`."""
    contact_for(state, caller, contact_id)
    task = caller.location.tasks.get(task_id)
    if task is None or task.contactId != contact_id:
        raise not_found("Task", task_id)
    return task


def note_for(state: SimulatorState, caller: Caller, contact_id: str, note_id: str) -> Note:
    """Note `note_id` of the caller's contact `contact_id`."""
    contact_for(state, caller, contact_id)
    note = caller.location.notes.get(note_id)
    if note is None or note.contactId != contact_id:
        raise not_found("Note", note_id)
    return note


def appointment_for(state: SimulatorState, caller: Caller, event_id: str) -> Appointment:
    """The caller's appointment `event_id`."""
    owner = state.owner(event_id)
    if owner is None or event_id not in state.locations[owner].appointments:
        raise not_found("Appointment", event_id)
    caller.check_location(owner)
    return caller.location.appointments[event_id]
