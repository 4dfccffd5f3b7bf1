"""Pure projection logic: which row an event makes, and which of two rows is newer.

No I/O here. `row_for` maps an event to the full row image it would write; `Stamp` orders
row images so that any order of the same events ends in the same row (the newest stamp
wins: version first, a tombstone wins a tie, the event id breaks the rest). The store
executes these rows with the same ordering as its guard.

A contact deletion hides the contact's tasks, notes and appointments too: GHL deletes them
with the contact but sends no Delete webhook for each. A child row is hidden by its
contact's tombstone when that tombstone's stamp is newer than the child's own; a child
snapshot newer than the tombstone shows the child again. Deletion is final in GHL, so a
contact snapshot newer than its tombstone shows the contact again but not the children the
tombstone hid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeAlias

from pydantic_core import to_json

from schemas import (
    AppointmentDeleted,
    ContactDeleted,
    ContactUpserted,
    Event,
    NoteDeleted,
    TaskDeleted,
)

__all__ = [
    "BOOLEAN_COLUMNS",
    "CHILD_TABLES",
    "COLUMNS",
    "COLUMN_MAPPERS",
    "COLUMN_SOURCES",
    "TABLES",
    "TIME_COLUMNS",
    "Key",
    "RowImage",
    "Stamp",
    "hidden_by_contact",
    "newest_rows",
    "reference_tables",
    "row_for",
    "tombstone_row",
]

TABLES: Final[Mapping[str, str]] = {
    "contact": "contacts",
    "task": "tasks",
    "note": "notes",
    "appointment": "appointments",
}
"""Entity type → projection table."""

CHILD_TABLES: Final[tuple[str, ...]] = ("tasks", "notes", "appointments")
"""Tables whose rows belong to a contact and are hidden when it is deleted."""

Key: TypeAlias = tuple[str, str, str]
"""(table, location_id, id)."""


# Both are named tuples rather than frozen dataclasses: the projections build one per event,
# and a tuple is built and compared several times faster.
class Stamp(NamedTuple):
    """The order of row images: newer version, then tombstone over snapshot, then event id."""

    version: datetime
    deleted: bool
    event_id: str


class RowImage(NamedTuple):
    """Everything one projection row holds after an event."""

    table: str
    location_id: str
    id: str
    contact_id: str
    stamp: Stamp
    columns: Mapping[str, Any]
    """Typed columns; all None for a tombstone."""
    data: str
    """The full GHL object as JSON text (a tombstone holds only the id)."""
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> Key:
        """(table, location_id, id)."""
        return (self.table, self.location_id, self.id)

    @property
    def deleted_at(self) -> datetime | None:
        """When the row was deleted, as its stamp says; None for a live row."""
        return self.stamp.version if self.stamp.deleted else None

    def hidden(self, by: Stamp) -> RowImage:
        """This row as a tombstone with another stamp (its contact's deletion)."""
        return tombstone_row(self.table, self.location_id, self.id, self.contact_id, by)


COLUMN_SOURCES: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "contacts": {
        "first_name": ("firstName",),
        "last_name": ("lastName",),
        "name": ("name",),
        "email": ("email",),
        "phone": ("phone",),
        "company_name": ("companyName",),
        "assigned_to": ("assignedTo",),
        "date_added": ("dateAdded",),
        "date_updated": ("dateUpdated",),
    },
    "tasks": {
        "title": ("title",),
        "body": ("body",),
        "assigned_to": ("assignedTo",),
        "due_date": ("dueDate",),
        "completed": ("completed",),
    },
    "notes": {"body": ("body",), "user_id": ("userId",), "date_added": ("dateAdded",)},
    "appointments": {
        "calendar_id": ("calendarId",),
        "title": ("title",),
        # GHL sends both; appointmentStatus is the one its webhooks and calendars agree on.
        "status": ("appointmentStatus", "status"),
        "assigned_user_id": ("assignedUserId",),
        "start_time": ("startTime",),
        "end_time": ("endTime",),
    },
}
"""Table → typed column → the GHL fields it is read from: the first that is set and not
empty, else the last one's value.

The one definition of the typed columns: the Python mapping below and the store's SQL are
both made from it."""

COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {t: tuple(c) for t, c in COLUMN_SOURCES.items()}
"""Typed columns of each table, in the order the store writes them."""

TIME_COLUMNS: Final = frozenset(
    {"date_added", "date_updated", "due_date", "start_time", "end_time"}
)
"""Typed columns holding a GHL time (`timestamptz`); each is read from one field."""

BOOLEAN_COLUMNS: Final = frozenset({"completed"})
"""Typed columns holding a flag (`boolean`); the rest are text."""


def _mapper(sources: Mapping[str, tuple[str, ...]]) -> Callable[[Any], dict[str, Any]]:
    def columns(entity: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for column, (first, *rest) in sources.items():
            value = getattr(entity, first)
            for name in rest:
                value = value or getattr(entity, name)
            values[column] = value
        return values

    return columns


def tombstone_row(
    table: str, location_id: str, id_: str, contact_id: str, stamp: Stamp
) -> RowImage:
    """The row image of a deleted entity: typed columns cleared, `data` only the id."""
    return RowImage(
        table=table,
        location_id=location_id,
        id=id_,
        contact_id=contact_id,
        stamp=stamp,
        columns=dict.fromkeys(COLUMNS[table]),
        data=to_json({"id": id_}).decode(),
    )


def _stamp(event: Event) -> Stamp:
    return Stamp(event.version, type(event) in _DELETED, event.event_id)


def row_for(event: Event) -> RowImage:
    """The row image an event writes, if its stamp is the newest for the row."""
    table = TABLES[event.entity_type]
    stamp = _stamp(event)
    if stamp.deleted:
        return tombstone_row(table, event.location_id, event.entity_id, event.contact_id, stamp)
    columns = COLUMN_MAPPERS[table](event.payload)
    tags = tuple(event.payload.tags or ()) if isinstance(event, ContactUpserted) else ()
    return RowImage(
        table=table,
        location_id=event.location_id,
        id=event.entity_id,
        contact_id=event.contact_id,
        stamp=stamp,
        columns=columns,
        data=event.payload.model_dump_json(exclude_none=True),
        tags=tags,
    )


_DELETED: Final = frozenset({ContactDeleted, TaskDeleted, NoteDeleted, AppointmentDeleted})
COLUMN_MAPPERS: Final[Mapping[str, Callable[[Any], dict[str, Any]]]] = {
    table: _mapper(sources) for table, sources in COLUMN_SOURCES.items()
}
"""Table → its typed columns from a payload (a model, or anything read the same way)."""


def newest_rows(events: Iterable[Event]) -> dict[Key, RowImage]:
    """The newest row image per row among `events` (duplicates and order do not matter)."""
    # Pick the winning event per row first: most of a busy batch is superseded, and only the
    # winners are worth turning into rows.
    winners: dict[Key, tuple[Stamp, Event]] = {}
    for event in events:
        key = (TABLES[event.entity_type], event.location_id, event.entity_id)
        stamp = _stamp(event)
        held = winners.get(key)
        if held is None or held[0] < stamp:
            winners[key] = (stamp, event)
    return {key: row_for(event) for key, (_, event) in winners.items()}


def hidden_by_contact(child: RowImage, contact: RowImage | None) -> RowImage:
    """A child row as its contact's state leaves it: hidden by a newer contact tombstone."""
    if contact is not None and contact.stamp.deleted and child.stamp < contact.stamp:
        return child.hidden(contact.stamp)
    return child


def reference_tables(events: Iterable[Event]) -> dict[Key, RowImage]:
    """What the tables must hold after `events`, computed without a database.

    The specification the store is tested against: the newest row per key, then every
    child hidden by its contact's tombstone when that is newer.
    """
    rows = newest_rows(events)
    for key, row in list(rows.items()):
        if row.table in CHILD_TABLES:
            contact = rows.get(("contacts", row.location_id, row.contact_id))
            rows[key] = hidden_by_contact(row, contact)
    return rows
