"""The unified read model: a contact with its tasks, notes, tags and appointments, from the
projection tables (`contacts`, `tasks`, `notes`, `appointments`); tombstoned rows are hidden.
Custom values are added by key (`services.api._custom`), and lists filter on them."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.api._custom import with_custom_fields
from services.customfields import CustomFilter

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
    view: dict[str, Any] = {
        "location_id": loc,
        "contact": _contact(contact),
        "tags": list(contact["tags"]),
        "tasks": children["tasks"],
        "notes": children["notes"],
        "appointments": children["appointments"],
        "version": contact["version"].isoformat(),
    }
    await with_custom_fields(conn, [view])
    return view


_VALUE = "COALESCE(cf.v->'value', cf.v->'fieldValue')"
_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _custom_clause(f: CustomFilter, key: int, value: int) -> tuple[str, object]:
    """SQL keeping the contacts one filter holds for, and its value parameter."""
    op = _COMPARE[f.op]
    param: object
    if f.kind == "number":
        test, param = f"ghl_cf_number({_VALUE}) {op} ${value}::text::numeric", str(f.value)
    elif f.kind == "date":
        test, param = f"ghl_cf_date({_VALUE}) {op} ${value}::date", f.value
    elif f.kind == "options":
        test, param = f"ghl_cf_has({_VALUE}, ${value}::text)", f.value
    else:
        test, param = f"({_VALUE}) #>> '{{}}' = ${value}::text", f.value
    sql = f"""
          AND EXISTS (
            SELECT 1 FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(c.data->'customFields') = 'array'
                     THEN c.data->'customFields' ELSE '[]'::jsonb END) AS cf(v)
            JOIN custom_field_definitions d
              ON d.location_id = c.location_id AND d.id = cf.v->>'id'
            WHERE d.key = ${key} AND {test})"""
    return sql, param


async def list_contacts(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    location_id: str | None,
    tag: str | None,
    updated_since: datetime | None,
    assigned_to: str | None,
    limit: int,
    cursor: str | None,
    custom: Sequence[CustomFilter] = (),
) -> dict[str, Any]:
    """One page of live contacts ordered by (location_id, id), and the cursor of the next;
    `custom` keeps those whose custom values hold every filter."""
    after = decode_cursor(cursor) if cursor else None
    extra: list[str] = []
    params: list[object] = []
    for f in custom:
        n = 8 + len(params)
        sql, param = _custom_clause(f, n, n + 1)
        extra.append(sql)
        params.extend((f.key, param))
    rows = await conn.fetch(
        """
        SELECT location_id, id, data::text AS data, tags FROM contacts c
        WHERE deleted_at IS NULL
          AND ($1::text IS NULL OR location_id = $1)
          AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
          AND ($3::timestamptz IS NULL OR date_updated >= $3)
          AND ($4::text IS NULL OR assigned_to = $4)
          AND ($5::text IS NULL OR (location_id, id) > ($5, $6))"""
        + "".join(extra)
        + """
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
        *params,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit and page:
        next_cursor = encode_cursor(page[-1]["location_id"], page[-1]["id"])
    items = [{"location_id": r["location_id"], "contact": _contact(r)} for r in page]
    await with_custom_fields(conn, items)
    return {"items": items, "next_cursor": next_cursor}
