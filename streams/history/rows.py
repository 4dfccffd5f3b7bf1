"""Pure history logic: the snapshot an event leaves, and the entries between neighbours.

No I/O here. History is kept as snapshots, one per event, ordered per entity by the same
stamp as the projections (`version`, tombstone over snapshot, event id). An entry is the
difference between a snapshot and the one before it of the same entity, so it is derived,
never stored: a late older snapshot lands in its place in that order and both diffs around
it are right at the next read, whatever order the events arrived in.

The same event seen twice (webhook and poll) has the same event id; a snapshot without
GHL's time takes its version from when we observed it, so the two copies may differ in
version. The earliest observation wins (`Snapshot.rank`), in memory and in the store.

Fields are the payload flattened: nested objects become dotted keys (`dndSettings.SMS.status`),
custom field values become `customFields.<id>`, other lists stay whole values (tags). The
entity's `id` and its `dateUpdated` (the entry's own time) are not fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, NamedTuple, TypeAlias

from schemas import DeletedEvent, Event

__all__ = [
    "Action",
    "Change",
    "EntityKey",
    "Entry",
    "Snapshot",
    "apply_entries",
    "as_of",
    "diff_fields",
    "entries",
    "entry_between",
    "flatten",
    "history",
    "newest_snapshots",
    "snapshot_for",
]

Action: TypeAlias = Literal["created", "updated", "deleted"]
EntityKey: TypeAlias = tuple[str, str]
"""(entity_type, entity_id) within one contact."""

_NOT_FIELDS: Final = frozenset({"id", "dateUpdated"})


class Snapshot(NamedTuple):
    """An entity as one event left it."""

    location_id: str
    contact_id: str
    entity_type: str
    entity_id: str
    version: datetime
    deleted: bool
    event_id: str
    event_type: str
    occurred_at: datetime | None
    observed_at: datetime
    source: str
    data: Mapping[str, Any]
    """The payload as JSON values, as the unified view shows it."""

    @property
    def fields(self) -> dict[str, Any]:
        """The flattened payload (empty for a tombstone); derived when asked, since writing
        a snapshot never needs it."""
        return {} if self.deleted else flatten(self.data)

    @property
    def entity(self) -> EntityKey:
        """(entity_type, entity_id)."""
        return (self.entity_type, self.entity_id)

    @property
    def order(self) -> tuple[datetime, bool, str]:
        """Where the snapshot stands among its entity's (and its contact's) history."""
        return (self.version, self.deleted, self.event_id)

    @property
    def rank(self) -> tuple[datetime, datetime, str]:
        """Between two copies of one event, the lower rank is kept."""
        return (self.version, self.observed_at, self.source)


_FROM_EVENT: Final = tuple(name for name in Snapshot._fields if name not in {"deleted", "data"})
"""The fields a snapshot takes from its event's attributes of the same names."""


class Change(NamedTuple):
    """One field of an entity changed from `old` to `new` (None: absent)."""

    field: str
    old: Any
    new: Any


class Entry(NamedTuple):
    """One change of a contact or one of its children."""

    snapshot: Snapshot
    action: Action
    changes: tuple[Change, ...]


def flatten(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a payload (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key in _NOT_FIELDS or value is None:
            continue
        if key == "customFields" and isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                    raw = item.get("value", item.get("fieldValue"))
                    if raw is not None:
                        out[f"customFields.{item['id']}"] = raw
            continue
        _flatten_into(out, key, value)
    return out


def _flatten_into(out: dict[str, Any], prefix: str, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            if inner is not None:
                _flatten_into(out, f"{prefix}.{key}", inner)
    else:
        out[prefix] = value


def snapshot_for(event: Event) -> Snapshot:
    """The snapshot an event leaves of its entity."""
    deleted = isinstance(event, DeletedEvent)
    data: dict[str, Any] = (
        {"id": event.entity_id}
        if deleted
        else event.payload.model_dump(mode="json", exclude_none=True)
    )
    copied = {name: getattr(event, name) for name in _FROM_EVENT}
    return Snapshot(**copied, deleted=deleted, data=data)


def diff_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """Field by field, what differs between two field maps (sorted by field)."""
    names = sorted(old.keys() | new.keys())
    return tuple(
        Change(name, old.get(name), new.get(name))
        for name in names
        if old.get(name) != new.get(name)
    )


def entry_between(previous: Snapshot | None, snapshot: Snapshot) -> Entry | None:
    """The entry `snapshot` makes after `previous` of the same entity; None if nothing
    changed (a repeated snapshot, or a second tombstone)."""
    before_alive = previous is not None and not previous.deleted
    old = previous.fields if previous is not None and before_alive else {}
    if snapshot.deleted:
        if not before_alive and previous is not None:
            return None
        return Entry(snapshot, "deleted", diff_fields(old, {}))
    changes = diff_fields(old, snapshot.fields)
    if not before_alive:
        return Entry(snapshot, "created", changes)
    if not changes:
        return None
    return Entry(snapshot, "updated", changes)


def newest_snapshots(snapshots: Iterable[Snapshot]) -> dict[tuple[str, str], Snapshot]:
    """One snapshot per (location_id, event_id): the copy of lowest rank."""
    kept: dict[tuple[str, str], Snapshot] = {}
    for snap in snapshots:
        key = (snap.location_id, snap.event_id)
        held = kept.get(key)
        if held is None or snap.rank < held.rank:
            kept[key] = snap
    return kept


def entries(ordered: Sequence[Snapshot]) -> list[Entry]:
    """The entries of snapshots already deduplicated and sorted by `order`."""
    last: dict[EntityKey, Snapshot] = {}
    out: list[Entry] = []
    for snap in ordered:
        entry = entry_between(last.get(snap.entity), snap)
        last[snap.entity] = snap
        if entry is not None:
            out.append(entry)
    return out


def history(snapshots: Iterable[Snapshot]) -> list[Entry]:
    """A contact's history from its snapshots in any order, duplicates included: the
    reference the store's reads are tested against."""
    ordered = sorted(newest_snapshots(snapshots).values(), key=lambda s: s.order)
    return entries(ordered)


def as_of(snapshots: Iterable[Snapshot], when: datetime) -> dict[EntityKey, Mapping[str, Any]]:
    """The fields of every live entity as they were at `when`: per entity, the newest
    snapshot not newer than `when`, unless it is a tombstone."""
    newest: dict[EntityKey, Snapshot] = {}
    for snap in newest_snapshots(snapshots).values():
        if snap.version > when:
            continue
        held = newest.get(snap.entity)
        if held is None or held.order < snap.order:
            newest[snap.entity] = snap
    return {key: snap.fields for key, snap in newest.items() if not snap.deleted}


def apply_entries(
    history_entries: Iterable[Entry], until: datetime | None = None
) -> dict[EntityKey, dict[str, Any]]:
    """The state history leaves: every entry up to `until` applied, change by change."""
    state: dict[EntityKey, dict[str, Any]] = {}
    for entry in history_entries:
        snap = entry.snapshot
        if until is not None and snap.version > until:
            break
        if entry.action == "deleted":
            state.pop(snap.entity, None)
            continue
        fields = state.setdefault(snap.entity, {})
        for change in entry.changes:
            if change.new is None:
                fields.pop(change.field, None)
            else:
                fields[change.field] = change.new
    return state
