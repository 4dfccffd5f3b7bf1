"""The simulator's ground truth: locations and their contacts, tasks, notes and appointments.

Every mutation goes through a method here, which updates the record, keeps the change times
and tells the listeners (the webhook dispatcher) with the GHL event name. The methods never
await, so on one event loop each mutation is atomic. The search caches (rendered contacts, a
location's sorted search results) key on these methods' bookkeeping (`contact_version`), so a
contact replaced behind the state's back is seen by reads by id at once but by a repeated
identical search only after the location's next change.

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

Search index lag (`search_lag_seconds`, default 0): GHL's search index trails writes by seconds
(DESIGN "At real sizes"). When set, `searchable_contacts` answers a location's contacts as they
were `search_lag_seconds` ago by the state's clock: a contact created, changed or deleted more
recently shows as it was before that change (absent when it was just created). Reads by id are
never lagged.
"""

from __future__ import annotations

import random
import string
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias, TypeVar

from schemas.ghl import Appointment, Contact, GhlEntity, Note, Task
from services.simulator.render import (
    appointment_rest,
    contact_rest,
    iso_ms,
    note_rest,
    task_rest,
)

__all__ = [
    "Kind",
    "Listener",
    "LocationData",
    "SimulatorState",
    "random_id",
    "with_derived_names",
]

Kind: TypeAlias = Literal["contacts", "tasks", "notes", "appointments"]
Listener: TypeAlias = Callable[[str, str, GhlEntity], None]
_E = TypeVar("_E", Contact, Task, Note, Appointment)
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
    calendar_names: dict[str, str] = field(default_factory=dict)
    """Calendar id -> its name (`GET /calendars/`); unnamed calendars are named by their id."""
    custom_fields: dict[str, str] = field(default_factory=dict)
    """Custom field key -> id."""
    custom_field_types: dict[str, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)
    """Custom field key -> (name, GHL dataType, options) of fields created through the API
    (`POST /locations/{id}/customFields`); other keys use the seeded types."""
    contacts: dict[str, Contact] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    notes: dict[str, Note] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    campaigns: dict[str, set[str]] = field(default_factory=dict)
    workflows: dict[str, set[str]] = field(default_factory=dict)
    contact_version: int = 0
    """Bumped by every contact create, change and delete (keys the search cache)."""
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


_ID_TABLE = bytes(ord(_ID_ALPHABET[b >> 2]) if b < 248 else 0 for b in range(256))
_ID_REJECTED = bytes(range(248, 256))


def random_id(rng: random.Random) -> str:
    """A 20-character id over `[A-Za-z0-9]`, drawn from `rng`.

    Exactly what `"".join(rng.choice(alphabet) for _ in range(20))` gives, only faster (seeding
    50,000 contacts spent most of its time there): `choice` takes the top 6 bits of one 32-bit
    Mersenne Twister word per draw and redraws values >= 62. `getrandbits(640)` yields the same
    20 words at once (little-endian), so the top byte of each word, shifted right by 2, is that
    draw; rejected draws are left out and made up for one word at a time, as `choice` would.
    """
    words = rng.getrandbits(640).to_bytes(80, "little")
    out = words[3::4].translate(_ID_TABLE, _ID_REJECTED).decode()
    while len(out) < 20:
        r = rng.getrandbits(6)
        if r < 62:
            out += _ID_ALPHABET[r]
    return out


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
        self.search_lag_seconds = 0.0
        """How far the search index lags writes (0: it sees every write at once)."""
        self._search_history: dict[str, deque[tuple[datetime, str, Contact | None]]] = {}
        self._rendered: dict[str, tuple[Contact, dict[str, Any]]] = {}
        self._search_cache: dict[tuple[str, int, str], list[dict[str, Any]]] = {}

    # -- plumbing -------------------------------------------------------------------------

    def now(self) -> datetime:
        """The current time, to the millisecond (GHL's precision)."""
        now = self.clock()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def new_id(self) -> str:
        """A fresh 20-character GHL-style id (deterministic for a given seed and history)."""
        return random_id(self.rng)

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

    # -- search index ---------------------------------------------------------------------

    def rendered(self, contact: Contact) -> dict[str, Any]:
        """`contact_rest(contact)`, cached per contact version; callers must not mutate it."""
        cached = self._rendered.get(contact.id)
        if cached is not None and cached[0] is contact:
            return cached[1]
        data = contact_rest(contact)
        self._rendered[contact.id] = (contact, data)
        return data

    def _contact_changed(self, location_id: str, contact_id: str, before: Contact | None) -> None:
        """Note a contact change; keep its pre-change version while the search index lags."""
        self.locations[location_id].contact_version += 1
        if self.search_lag_seconds <= 0:
            return
        now = self.clock()
        history = self._search_history.setdefault(location_id, deque())
        history.append((now, contact_id, before))
        horizon = now - timedelta(seconds=self.search_lag_seconds)
        while history[0][0] <= horizon:
            history.popleft()

    def searchable_contacts(self, location_id: str) -> list[Contact]:
        """The contacts as the search index sees them (`search_lag_seconds` behind writes).

        A contact created, changed or deleted less than the lag ago shows as it was before
        that first recent change: absent if it was created, the old version otherwise.
        """
        loc = self.locations[location_id]
        history = self._search_history.get(location_id)
        if history:
            horizon = self.clock() - timedelta(seconds=max(0.0, self.search_lag_seconds))
            while history and history[0][0] <= horizon:
                history.popleft()
        if not history or self.search_lag_seconds <= 0:
            return list(loc.contacts.values())
        as_of: dict[str, Contact | None] = {}
        for _, contact_id, before in history:
            as_of.setdefault(contact_id, before)
        out = [c for cid, c in loc.contacts.items() if cid not in as_of]
        out.extend(c for c in as_of.values() if c is not None)
        return out

    def cached_search(
        self, location_id: str, key: str, compute: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """`compute()`, reused while the location's contacts (and the lagged view) stand still.

        Paging through a large location with `searchAfter` would otherwise filter and sort every
        contact again for each page.
        """
        loc = self.locations[location_id]
        if self._search_history.get(location_id) and self.search_lag_seconds > 0:
            return compute()  # the lagged view moves with the clock
        full_key = (location_id, loc.contact_version, key)
        found = self._search_cache.get(full_key)
        if found is None:
            found = compute()
            self._search_cache[full_key] = found
            while len(self._search_cache) > 16:
                self._search_cache.pop(next(iter(self._search_cache)))
        return found

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

    def _new(self, model: type[_E], fields: dict[str, Any], **owner: str) -> _E:
        """A new `model` of `fields` under `owner` (its contactId or locationId), with a new
        id, added and updated now."""
        now = self.now()
        return model.model_validate(
            {**fields, "id": self.new_id(), **owner, "dateAdded": now, "dateUpdated": now}
        )

    def _edited(self, old: _E, changes: dict[str, Any]) -> _E | None:
        """`old` with `changes`, updated now; None when they change nothing."""
        before = old.model_dump()
        after = {**before, **changes}
        if after == before:
            return None
        return type(old).model_validate({**after, "dateUpdated": self.now()})

    def _create(self, location_id: str, kind: Kind, entity: _E, event: str) -> _E:
        """Store a new `entity` and emit `event`."""
        self.insert(location_id, kind, entity)
        self._emit(event, location_id, entity)
        return entity

    def _update(
        self,
        location_id: str,
        records: dict[str, _E],
        entity_id: str,
        changes: dict[str, Any],
        event: str | None,
    ) -> _E:
        """`records[entity_id]` with `changes`, emitting `event` when something changed."""
        old = records[entity_id]
        new = self._edited(old, changes)
        if new is None:
            return old
        records[entity_id] = new
        if event is not None:
            self._emit(event, location_id, new)
        return new

    def _delete(
        self, location_id: str, kind: Kind, entity_id: str, model: type[_E], event: str
    ) -> _E:
        """Remove `entity_id` (recorded as deleted) and emit `event` with its last snapshot."""
        entity = self._remove(self.locations[location_id], kind, entity_id)
        assert isinstance(entity, model)
        self._emit(event, location_id, entity)
        return entity

    def create_contact(self, location_id: str, fields: dict[str, Any]) -> Contact:
        """Create a contact from already validated GHL fields; emits `ContactCreate`."""
        data = with_derived_names({"tags": [], **fields})
        contact = self._new(Contact, data, locationId=location_id)
        self._contact_changed(location_id, contact.id, None)
        return self._create(location_id, "contacts", contact, "ContactCreate")

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
        self._contact_changed(location_id, contact_id, old)
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
        self._contact_changed(location_id, contact_id, contact)
        self._rendered.pop(contact_id, None)
        self._emit("ContactDelete", location_id, contact)
        return contact

    # -- tasks, notes and appointments ---------------------------------------------------

    def create_task(self, location_id: str, contact_id: str, fields: dict[str, Any]) -> Task:
        """Create a task on a contact; emits `TaskCreate`."""
        task = self._new(Task, {"completed": False, **fields}, contactId=contact_id)
        return self._create(location_id, "tasks", task, "TaskCreate")

    def update_task(self, location_id: str, task_id: str, changes: dict[str, Any]) -> Task:
        """Edit a task; only a completion (false -> true) emits anything (`TaskComplete`)."""
        tasks = self.locations[location_id].tasks
        old = tasks[task_id]
        new = self._update(location_id, tasks, task_id, changes, None)
        if new.completed and not old.completed:
            self._emit("TaskComplete", location_id, new)
        return new

    def delete_task(self, location_id: str, task_id: str) -> Task:
        """Delete a task; emits `TaskDelete`."""
        return self._delete(location_id, "tasks", task_id, Task, "TaskDelete")

    def create_note(self, location_id: str, contact_id: str, fields: dict[str, Any]) -> Note:
        """Create a note on a contact; emits `NoteCreate`."""
        note = self._new(Note, fields, contactId=contact_id)
        return self._create(location_id, "notes", note, "NoteCreate")

    def update_note(self, location_id: str, note_id: str, changes: dict[str, Any]) -> Note:
        """Edit a note; emits `NoteUpdate` when something changed."""
        notes = self.locations[location_id].notes
        return self._update(location_id, notes, note_id, changes, "NoteUpdate")

    def delete_note(self, location_id: str, note_id: str) -> Note:
        """Delete a note; emits `NoteDelete`."""
        return self._delete(location_id, "notes", note_id, Note, "NoteDelete")

    def create_appointment(self, location_id: str, fields: dict[str, Any]) -> Appointment:
        """Book an appointment; emits `AppointmentCreate`."""
        appt = self._new(Appointment, fields, locationId=location_id)
        return self._create(location_id, "appointments", appt, "AppointmentCreate")

    def update_appointment(
        self, location_id: str, appointment_id: str, changes: dict[str, Any]
    ) -> Appointment:
        """Edit an appointment; emits `AppointmentUpdate` when something changed."""
        appts = self.locations[location_id].appointments
        return self._update(location_id, appts, appointment_id, changes, "AppointmentUpdate")

    def delete_appointment(self, location_id: str, appointment_id: str) -> Appointment:
        """Delete an appointment; emits `AppointmentDelete`."""
        return self._delete(
            location_id, "appointments", appointment_id, Appointment, "AppointmentDelete"
        )

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
