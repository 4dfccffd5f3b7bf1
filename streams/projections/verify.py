"""Compare projection tables: with each other (live vs rebuild) or with expected rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from streams.projections.rows import CHILD_TABLES, COLUMNS, Key, RowImage
from streams.projections.store import Connection

__all__ = [
    "TableRows",
    "diff_against_ground_truth",
    "diff_tables",
    "dump_tables",
    "rows_from_images",
]

TableRows = dict[Key, dict[str, Any]]
"""Rows by (table, location_id, id), each a dict of column → value (data parsed)."""


def _json(text: str) -> Any:
    # Numbers as decimals: jsonb keeps a number's exact decimal value but not its spelling
    # (6.158629741515387e+16 reads back as 61586297415153870), and as a float and an int
    # the two would differ.
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def _own(table: str) -> str:
    return "contact_id" if table in CHILD_TABLES else "tags"


async def dump_tables(conn: Connection) -> TableRows:
    """Every projection row of the connection's schema."""
    rows: TableRows = {}
    for table, typed in COLUMNS.items():
        names = [_own(table), *typed, "data", "version", "event_id", "deleted_at"]
        records = await conn.fetch(f"SELECT location_id, id, {', '.join(names)} FROM {table}")
        for record in records:
            values = {name: record[name] for name in names}
            values["data"] = _json(values["data"])
            rows[(table, record["location_id"], record["id"])] = values
    return rows


def rows_from_images(images: Iterable[RowImage]) -> TableRows:
    """Row images as `dump_tables` would read them back."""
    rows: TableRows = {}
    for image in images:
        values: dict[str, Any] = {
            _own(image.table): image.contact_id
            if image.table in CHILD_TABLES
            else list(image.tags),
            **{c: image.columns.get(c) for c in COLUMNS[image.table]},
            "data": _json(image.data),
            "version": image.stamp.version,
            "event_id": image.stamp.event_id,
            "deleted_at": image.deleted_at,
        }
        rows[image.key] = values
    return rows


def diff_tables(
    left: Mapping[Key, Mapping[str, Any]],
    right: Mapping[Key, Mapping[str, Any]],
    *,
    left_name: str = "left",
    right_name: str = "right",
    limit: int = 50,
) -> list[str]:
    """Human-readable differences, at most `limit` of them (then a count of the rest)."""
    lines: list[str] = []
    total = 0
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        if a == b:
            continue
        total += 1
        if len(lines) >= limit:
            continue
        table, location, id_ = key
        if a is None:
            lines.append(f"{table} {location}/{id_}: only in {right_name}")
        elif b is None:
            lines.append(f"{table} {location}/{id_}: only in {left_name}")
        else:
            fields = [f"{c}: {a.get(c)!r} != {b.get(c)!r}" for c in a if a.get(c) != b.get(c)]
            lines.append(f"{table} {location}/{id_}: " + "; ".join(fields))
    if total > len(lines):
        lines.append(f"... and {total - len(lines)} more")
    return lines


# What the ground truth comparison checks per table: (GHL field, projection column).
_TRUTH_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "contacts": (
        ("email", "email"), ("firstName", "first_name"), ("lastName", "last_name"),
        ("phone", "phone"), ("assignedTo", "assigned_to"),
    ),
    "tasks": (("title", "title"), ("completed", "completed"), ("contactId", "contact_id")),
    "notes": (("body", "body"), ("contactId", "contact_id")),
    "appointments": (("title", "title"), ("contactId", "contact_id")),
}  # fmt: skip
_STATE_KEYS = {"contacts": "contacts", "tasks": "tasks", "notes": "notes",
               "appointments": "appointments"}  # fmt: skip


def diff_against_ground_truth(
    rows: Mapping[Key, Mapping[str, Any]], state: Mapping[str, Any], *, limit: int = 50
) -> list[str]:
    """Differences between the live projection rows and a GHL state dump.

    `state` has the shape of the simulator's `/_admin/state`: `{"locations": {id: {"contacts":
    [...], "tasks": [...], "notes": [...], "appointments": [...]}}}` in GHL's REST shapes.
    Only locations present in `state` are compared. Deleted rows must be absent from GHL;
    live rows must exist in GHL with the same key fields (and the same tags for contacts).
    """
    expected: dict[Key, dict[str, Any]] = {}
    locations = state.get("locations", {})
    for location_id, location in locations.items():
        for table, state_key in _STATE_KEYS.items():
            for obj in location.get(state_key, []):
                expected[(table, location_id, obj["id"])] = obj
    live = {
        key: row
        for key, row in rows.items()
        if row.get("deleted_at") is None and key[1] in locations
    }
    lines: list[str] = []
    total = 0
    for key in sorted(set(expected) | set(live)):
        table, location, id_ = key
        obj, row = expected.get(key), live.get(key)
        problem = ""
        if row is None:
            problem = "in GHL, missing from the projection"
        elif obj is None:
            problem = "in the projection, not in GHL"
        else:
            fields = [
                f"{col}: {row.get(col)!r} != GHL {obj.get(ghl)!r}"
                for ghl, col in _TRUTH_FIELDS[table]
                if row.get(col) != obj.get(ghl)
            ]
            if table == "contacts" and sorted(row.get("tags") or []) != sorted(
                obj.get("tags") or []
            ):
                fields.append(f"tags: {sorted(row.get('tags') or [])} != GHL {obj.get('tags')}")
            problem = "; ".join(fields)
        if problem:
            total += 1
            if len(lines) < limit:
                lines.append(f"{table} {location}/{id_}: {problem}")
    if total > len(lines):
        lines.append(f"... and {total - len(lines)} more")
    return lines
