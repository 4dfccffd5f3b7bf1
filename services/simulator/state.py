"""The simulator's ground truth: locations and their contacts, tasks, notes and appointments.

Every mutation goes through a method here, which updates the record, keeps the change times
and tells the listeners (the webhook dispatcher) with the GHL event name. The methods never
await, so on one event loop each mutation is atomic.

Which changes emit which event (UNCONFIRMED details marked):

- contact create/delete: `ContactCreate` / `ContactDelete` (the last snapshot).
- contact update: `ContactTagUpdate` when tags changed, `ContactDndUpdate` when `dnd` or
  `dndSettings` changed, `ContactUpdate` when anything else changed (UNCONFIRMED split). An
  update that changes nothing bumps no `dateUpdated` and emits nothing.
- deleting a contact silently deletes its tasks, notes and appointments (no child events;
  UNCONFIRMED) and records their ids as deleted.
- task create/delete: `TaskCreate` / `TaskDelete`; completion (false -> true): `TaskComplete`;
  any other task edit, un-completing included, emits nothing (GHL has no TaskUpdate).
- note create/update/delete: `NoteCreate` / `NoteUpdate` / `NoteDelete`.
- appointment create/update/delete: `AppointmentCreate` / `AppointmentUpdate` / `AppointmentDelete`.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from schemas.ghl import Appointment, Contact, GhlEntity, Note, Task
from services.simulator.render import (
    appointment_rest,
    contact_rest,
    iso_ms,
    note_rest,
    task_rest,
)

__all__ = ["Kind", "Listener", "LocationData", "SimulatorState", "with_derived_names"]

Kind: TypeAlias = Literal["contacts", "tasks", "notes", "appointments"]
Listener: TypeAlias = Callable[[str, str, GhlEntity], None]
"""Called with (GHL event name, location id, entity snapshot) after each change."""

_ID_ALPHABET = string.ascii_letters + string.digits
_NAME_KEYS = frozenset({"firstName", "lastName", "name", "email"})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LocationData:
    """One GHL location (sub-account) and everything in it."""

    id: str
    name: str
    allow_duplicates: bool = False
    duplicate_priority: tuple[str, ...] = ("email", "phone")
    users: list[str] = field(default_factory=list)
    calendars: dict[str, str] = field(default_factory=dict)
    """Calendar id -> its group id."""
    custom_fields: dict[str, str] = field(default_factory=dict)
    """Custom field key -> id."""
    contacts: dict[str, Contact] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    notes: dict[str, Note] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    campaigns: dict[str, set[str]] = field(default_factory=dict)
    workflows: dict[str, set[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(
        default_factory=lambda: {k: [] for k in ("contacts", "tasks", "notes", "appointments")}
    )

    def children(self, contact_id: str) -> Iterator[tuple[Kind, str]]:
        """Tasks, notes and appointments of one contact, as (kind, id)."""
        for task in list(self.tasks.values()):
            if task.contactId == contact_id:
                yield "tasks", task.id
        for note in list(self.notes.values()):
            if note.contactId == contact_id:
                yield "notes", note.id
        for appt in list(self.appointments.values()):
            if appt.contactId == contact_id:
                yield "appointments", appt.id


def with_derived_names(fields: dict[str, Any]) -> dict[str, Any]:
    """Fill `name` and the lower-case search copies from the name and email fields."""
    # GHL derives `name` and the lower-case search copies from the name and email fields.
    first, last = fields.get("firstName"), fields.get("lastName")
    full = " ".join(p for p in (first, last) if p) or None
    if first or last:
        fields["name"] = full
    fields["firstNameLowerCase"] = first.lower() if first else None
    fields["lastNameLowerCase"] = last.lower() if last else None
    name = fields.get("name")
    fields["fullNameLowerCase"] = name.lower() if name else None
    email = fields.get("email")
    fields["emailLowerCase"] = email.lower() if email else None
    return fields


class SimulatorState:
    """In-memory ground truth of every location; see the module docstring for the events."""

    def __init__(self, *, seed: int = 0, clock: Callable[[], datetime] | None = None) -> None:
        self.rng = random.Random(seed)
        self.clock = clock or _now
        self.locations: dict[str, LocationData] = {}
        self._owner: dict[str, str] = {}
        self._listeners: list[Listener] = []

    # -- plumbing -------------------------------------------------------------------------

    def now(self) -> datetime:
        """The current time, to the millisecond (GHL's precision)."""
        now = self.clock()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def new_id(self) -> str:
        """A fresh 20-character GHL-style id (deterministic for a given seed and history)."""
        return "".join(self.rng.choice(_ID_ALPHABET) for _ in range(20))

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` after every change."""
        self._listeners.append(listener)

    def _emit(self, event: str, location_id: str, entity: GhlEntity) -> None:
        for listener in self._listeners:
            listener(event, location_id, entity)

    def add_location(
        self,
        name: str,
        *,
        location_id: str | None = None,
        allow_duplicates: bool = False,
        duplicate_priority: tuple[str, ...] = ("email", "phone"),
    ) -> LocationData:
        """Create an empty location."""
        loc = LocationData(
            id=location_id or self.new_id(),
            name=name,
            allow_duplicates=allow_duplicates,
            duplicate_priority=duplicate_priority,
        )
        self.locations[loc.id] = loc
        return loc

    def owner(self, entity_id: str) -> str | None:
        """The location holding a live entity with this id, if any."""
        return self._owner.get(entity_id)

    def insert(self, location_id: str, kind: Kind, entity: GhlEntity) -> None:
        """Store an entity as is, without events (seeding)."""
        getattr(self.locations[location_id], kind)[entity.id] = entity
        self._owner[entity.id] = location_id

    def _remove(self, loc: LocationData, kind: Kind, entity_id: str) -> GhlEntity:
        entity: GhlEntity = getattr(loc, kind).pop(entity_id)
        self._owner.pop(entity_id, None)
        loc.deleted[kind].append(entity_id)
        return entity

    # -- contacts -------------------------------------------------------------------------

    def find_contact(
        self, location_id: str, *, email: str | None, phone: str | None, exclude: str | None = None
    ) -> tuple[Contact, str] | None:
        """The first contact matching by the location's priority order, and the field."""
        loc = self.locations[location_id]
        wanted = {"email": email.lower() if email else None, "phone": phone}
        for field_name in loc.duplicate_priority:
            value = wanted.get(field_name)
            if not value:
                continue
            for contact in loc.contacts.values():
                have = contact.phone if field_name == "phone" else (contact.email or "").lower()
                if have == value and contact.id != exclude:
                    return contact, field_name
        return None

    def create_contact(self, location_id: str, fields: dict[str, Any]) -> Contact:
        """Create a contact from already validated GHL fields; emits `ContactCreate`."""
        now = self.now()
        data = with_derived_names({"tags": [], **fields})
        contact = Contact.model_validate(
            {
                **data,
                "id": self.new_id(),
                "locationId": location_id,
                "dateAdded": now,
                "dateUpdated": now,
            }
        )
        self.insert(location_id, "contacts", contact)
        self._emit("ContactCreate", location_id, contact)
        return contact

    def update_contact(self, location_id: str, contact_id: str, changes: dict[str, Any]) -> Contact:
        """Apply changes (a `None` value clears the field); emits the matching events."""
        loc = self.locations[location_id]
        old = loc.contacts[contact_id]
        before = old.model_dump()
        after = dict(before)
        after.update(changes)
        if _NAME_KEYS & changes.keys():
            if "name" not in changes and ({"firstName", "lastName"} & changes.keys()):
                after["name"] = None
            after = with_derived_names(after)
        changed = {k for k in after if after[k] != before.get(k)}
        if not changed:
            return old
        after["dateUpdated"] = self.now()
        new = Contact.model_validate(after)
        loc.contacts[contact_id] = new
        if "tags" in changed:
            self._emit("ContactTagUpdate", location_id, new)
        if {"dnd", "dndSettings"} & changed:
            self._emit("ContactDndUpdate", location_id, new)
        if changed - {"tags", "dnd", "dndSettings"}:
            self._emit("ContactUpdate", location_id, new)
        return new

    def delete_contact(self, location_id: str, contact_id: str) -> Contact:
        """Delete a contact and, silently, its tasks, notes and appointments."""
        loc = self.locations[location_id]
        for kind, child_id in list(loc.children(contact_id)):
            self._remove(loc, kind, child_id)
        loc.campaigns.pop(contact_id, None)
        loc.workflows.pop(contact_id, None)
        contact = self._remove(loc, "contacts", contact_id)
        assert isinstance(contact, Contact)
        self._emit("ContactDelete", location_id, contact)
        return contact

    # -- tasks ----------------------------------------------------------------------------

    def create_task(self, location_id: str, contact_id: str, fields: dict[str, Any]) -> Task:
        """Create a task on a contact; emits `TaskCreate`."""
        now = self.now()
        task = Task.model_validate(
            {
                "completed": False,
                **fields,
                "id": self.new_id(),
                "contactId": contact_id,
                "dateAdded": now,
                "dateUpdated": now,
            }
        )
        self.insert(location_id, "tasks", task)
        self._emit("TaskCreate", location_id, task)
        return task

    def update_task(self, location_id: str, task_id: str, changes: dict[str, Any]) -> Task:
        """Edit a task; only a completion (false -> true) emits anything (`TaskComplete`)."""
        loc = self.locations[location_id]
        old = loc.tasks[task_id]
        before = old.model_dump()
        after = {**before, **changes}
        if after == before:
            return old
        after["dateUpdated"] = self.now()
        new = Task.model_validate(after)
        loc.tasks[task_id] = new
        if new.completed and not old.completed:
            self._emit("TaskComplete", location_id, new)
        return new

    def delete_task(self, location_id: str, task_id: str) -> Task:
        """Delete a task; emits `TaskDelete`."""
        task = self._remove(self.locations[location_id], "tasks", task_id)
        assert isinstance(task, Task)
        self._emit("TaskDelete", location_id, task)
        return task

    # -- notes ----------------------------------------------------------------------------

    def create_note(self, location_id: str, contact_id: str, fields: dict[str, Any]) -> Note:
        """Create a note on a contact; emits `NoteCreate`."""
        now = self.now()
        note = Note.model_validate(
            {
                **fields,
                "id": self.new_id(),
                "contactId": contact_id,
                "dateAdded": now,
                "dateUpdated": now,
            }
        )
        self.insert(location_id, "notes", note)
        self._emit("NoteCreate", location_id, note)
        return note

    def update_note(self, location_id: str, note_id: str, changes: dict[str, Any]) -> Note:
        """Edit a note; emits `NoteUpdate` when something changed."""
        loc = self.locations[location_id]
        old = loc.notes[note_id]
        before = old.model_dump()
        after = {**before, **changes}
        if after == before:
            return old
        after["dateUpdated"] = self.now()
        new = Note.model_validate(after)
        loc.notes[note_id] = new
        self._emit("NoteUpdate", location_id, new)
        return new

    def delete_note(self, location_id: str, note_id: str) -> Note:
        """Delete a note; emits `NoteDelete`."""
        note = self._remove(self.locations[location_id], "notes", note_id)
        assert isinstance(note, Note)
        self._emit("NoteDelete", location_id, note)
        return note

    # -- appointments ---------------------------------------------------------------------

    def create_appointment(self, location_id: str, fields: dict[str, Any]) -> Appointment:
        """Book an appointment; emits `AppointmentCreate`."""
        now = self.now()
        appt = Appointment.model_validate(
            {
                **fields,
                "id": self.new_id(),
                "locationId": location_id,
                "dateAdded": now,
                "dateUpdated": now,
            }
        )
        self.insert(location_id, "appointments", appt)
        self._emit("AppointmentCreate", location_id, appt)
        return appt

    def update_appointment(
        self, location_id: str, appointment_id: str, changes: dict[str, Any]
    ) -> Appointment:
        """Edit an appointment; emits `AppointmentUpdate` when something changed."""
        loc = self.locations[location_id]
        old = loc.appointments[appointment_id]
        before = old.model_dump()
        after = {**before, **changes}
        if after == before:
            return old
        after["dateUpdated"] = self.now()
        new = Appointment.model_validate(after)
        loc.appointments[appointment_id] = new
        self._emit("AppointmentUpdate", location_id, new)
        return new

    def delete_appointment(self, location_id: str, appointment_id: str) -> Appointment:
        """Delete an appointment; emits `AppointmentDelete`."""
        appt = self._remove(self.locations[location_id], "appointments", appointment_id)
        assert isinstance(appt, Appointment)
        self._emit("AppointmentDelete", location_id, appt)
        return appt

    # -- ground truth ---------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Everything, per location, in the REST shapes, plus deleted ids (JSON-ready)."""
        out: dict[str, Any] = {}
        for loc in self.locations.values():
            out[loc.id] = {
                "id": loc.id,
                "name": loc.name,
                "allowDuplicates": loc.allow_duplicates,
                "users": list(loc.users),
                "calendars": dict(loc.calendars),
                "contacts": [contact_rest(c) for c in loc.contacts.values()],
                "tasks": [
                    {
                        **task_rest(t),
                        "dateAdded": _iso(t.dateAdded),
                        "dateUpdated": _iso(t.dateUpdated),
                    }
                    for t in loc.tasks.values()
                ],
                "notes": [
                    {**note_rest(n), "dateUpdated": _iso(n.dateUpdated)} for n in loc.notes.values()
                ],
                "appointments": [appointment_rest(a) for a in loc.appointments.values()],
                "campaigns": {k: sorted(v) for k, v in loc.campaigns.items() if v},
                "workflows": {k: sorted(v) for k, v in loc.workflows.items() if v},
                "deleted": {k: list(v) for k, v in loc.deleted.items()},
            }
        return {"locations": out}


def _iso(value: datetime | None) -> str | None:
    return iso_ms(value) if value else None
