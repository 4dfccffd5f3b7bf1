"""The unified read model: a contact with its tasks, notes, tags and appointments, from the
projection tables (`contacts`, `tasks`, `notes`, `appointments`); tombstoned rows are hidden."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["CursorError", "decode_cursor", "encode_cursor", "get_contact_view", "list_contacts"]


class CursorError(ValueError):
    """The cursor was not made by this API."""


def encode_cursor(location_id: str, contact_id: str) -> str:
    """An opaque cursor after (location_id, id)."""
    raw = json.dumps([location_id, contact_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (location_id, id) a cursor points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except ValueError as exc:
        raise CursorError("cursor is not one this API returned") from exc
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise CursorError("cursor is not one this API returned")
    return value[0], value[1]


def _contact(record: asyncpg.Record) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record["data"])
    data["tags"] = list(record["tags"])
    return data


async def get_contact_view(
    conn: asyncpg.Connection | asyncpg.Pool, contact_id: str, location_id: str | None
) -> dict[str, Any] | None:
    """The contact and its live tasks, notes and appointments; None when unknown or deleted."""
    contact = await conn.fetchrow(
        """
        SELECT location_id, id, data::text AS data, tags, version FROM contacts
        WHERE id = $1 AND ($2::text IS NULL OR location_id = $2) AND deleted_at IS NULL
        LIMIT 1
        """,
        contact_id,
        location_id,
    )
    if contact is None:
        return None
    loc = contact["location_id"]
    children: dict[str, list[Any]] = {}
    for table, order in (
        ("tasks", "due_date"),
        ("notes", "date_added"),
        ("appointments", "start_time"),
    ):
        rows = await conn.fetch(
            f"SELECT data::text AS data FROM {table} "
            "WHERE location_id = $1 AND contact_id = $2 AND deleted_at IS NULL "
            f"ORDER BY {order} NULLS LAST, id",
            loc,
            contact_id,
        )
        children[table] = [json.loads(r["data"]) for r in rows]
    return {
        "location_id": loc,
        "contact": _contact(contact),
        "tags": list(contact["tags"]),
        "tasks": children["tasks"],
        "notes": children["notes"],
        "appointments": children["appointments"],
        "version": contact["version"].isoformat(),
    }


async def list_contacts(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    location_id: str | None,
    tag: str | None,
    updated_since: datetime | None,
    assigned_to: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of live contacts ordered by (location_id, id), and the cursor of the next."""
    after = decode_cursor(cursor) if cursor else None
    rows = await conn.fetch(
        """
        SELECT location_id, id, data::text AS data, tags FROM contacts
        WHERE deleted_at IS NULL
          AND ($1::text IS NULL OR location_id = $1)
          AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
          AND ($3::timestamptz IS NULL OR date_updated >= $3)
          AND ($4::text IS NULL OR assigned_to = $4)
          AND ($5::text IS NULL OR (location_id, id) > ($5, $6))
        ORDER BY location_id, id
        LIMIT $7
        """,
        location_id,
        tag,
        updated_since,
        assigned_to,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit and page:
        next_cursor = encode_cursor(page[-1]["location_id"], page[-1]["id"])
    return {
        "items": [{"location_id": r["location_id"], "contact": _contact(r)} for r in page],
        "next_cursor": next_cursor,
    }
