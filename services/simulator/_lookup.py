"""Find a record for a caller: 400 `... not found for id:...` or 403 for another location's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from schemas.ghl import Appointment, Contact, Note, Task
from services.simulator._errors import not_found
from services.simulator.auth import Caller
from services.simulator.state import LocationData, SimulatorState

__all__ = ["appointment_for", "contact_for", "note_for", "task_for"]

_Owned = TypeVar("_Owned", Contact, Appointment)
_Child = TypeVar("_Child", Task, Note)


def _owned(
    state: SimulatorState,
    caller: Caller,
    name: str,
    entity_id: str,
    records: Callable[[LocationData], Mapping[str, _Owned]],
) -> _Owned:
    # Look in the owning location first: another location's record is 403, not 400.
    owner = state.owner(entity_id)
    if owner is None or entity_id not in records(state.locations[owner]):
        raise not_found(name, entity_id)
    caller.check_location(owner)
    return records(caller.location)[entity_id]


def _of_contact(name: str, records: Mapping[str, _Child], contact_id: str, child_id: str) -> _Child:
    child = records.get(child_id)
    if child is None or child.contactId != contact_id:
        raise not_found(name, child_id)
    return child


def contact_for(state: SimulatorState, caller: Caller, contact_id: str) -> Contact:
    """The caller's contact `contact_id`."""
    return _owned(state, caller, "Contact", contact_id, lambda loc: loc.contacts)


def task_for(state: SimulatorState, caller: Caller, contact_id: str, task_id: str) -> Task:
    """Task `task_id` of the caller's contact `contact_id`."""
    contact_for(state, caller, contact_id)
    return _of_contact("Task", caller.location.tasks, contact_id, task_id)


def note_for(state: SimulatorState, caller: Caller, contact_id: str, note_id: str) -> Note:
    """Note `note_id` of the caller's contact `contact_id`."""
    contact_for(state, caller, contact_id)
    return _of_contact("Note", caller.location.notes, contact_id, note_id)


def appointment_for(state: SimulatorState, caller: Caller, event_id: str) -> Appointment:
    """The caller's appointment `event_id`."""
    return _owned(state, caller, "Appointment", event_id, lambda loc: loc.appointments)
