"""Custom fields in the read API and the command API, by key.

- `with_custom_fields`: adds to each view (or list item) `custom_fields` (key → typed value:
  numbers as numbers, dates as `YYYY-MM-DD`, options checked), `unknown_custom_fields`
  (`{id, value}` no stored definition names yet, kept as sent) and `invalid_custom_fields`
  (`{key, value, reason}`: values that do not fit their field). The contact's own
  `customFields` stays as GHL sent it.
- `custom_filters`: the `custom.<key>[.op]` query parameters of a list, checked against the
  definitions of the listed location (or of every location having the key).
- `translate_command`: a contact command's `customFields` named by `key` get GHL's field
  `id`, their values checked and written as GHL takes them (numbers as numbers, dates as
  `YYYY-MM-DD`, options among the field's); an unknown key or a wrong-typed value is a
  `CustomFieldError` naming both. Values named by `id` are checked when the id is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from schemas import CommandBase, CustomFieldWrite
from services.customfields import (
    CustomFieldError,
    CustomFilter,
    Definition,
    parse_custom_filters,
    read_values,
    to_ghl_writes,
)
from services.customfields.filters import PREFIX
from services.customfields.store import definitions_by_location

__all__ = ["custom_filters", "translate_command", "with_custom_fields"]

Reader = asyncpg.Connection | asyncpg.Pool


def _apply(definitions: Sequence[Definition], view: dict[str, Any]) -> None:
    contact = view.get("contact")
    raw = contact.get("customFields") if isinstance(contact, dict) else None
    values = read_values(definitions, raw or [])
    view["custom_fields"] = values.by_key
    view["unknown_custom_fields"] = values.unknown
    view["invalid_custom_fields"] = values.invalid


async def with_custom_fields(conn: Reader, views: Sequence[dict[str, Any]]) -> None:
    """Add the custom values by key to every view (one read of the definitions)."""
    if not views:
        return
    locations = sorted({str(v["location_id"]) for v in views})
    found = await definitions_by_location(conn, locations)
    for view in views:
        _apply(found.get(str(view["location_id"]), []), view)


async def custom_filters(
    conn: Reader, params: Iterable[tuple[str, str]], location_id: str | None
) -> list[CustomFilter]:
    """The list's custom field filters (none: no read); raises `CustomFieldError`."""
    wanted = [(name, value) for name, value in params if name.startswith(PREFIX)]
    if not wanted:
        return []
    rows = await conn.fetch(
        "SELECT location_id, id, key, name, data_type, options FROM custom_field_definitions"
        " WHERE $1::text IS NULL OR location_id = $1",
        location_id,
    )
    definitions = [
        Definition(r["id"], r["key"], r["name"], r["data_type"], tuple(r["options"])) for r in rows
    ]
    return parse_custom_filters(wanted, definitions)


async def translate_command(conn: Reader, command: CommandBase) -> CommandBase:
    """The command with its custom fields named by id (unchanged when it has none)."""
    payload = getattr(command, "payload", None)
    writes: list[CustomFieldWrite] | None = getattr(payload, "customFields", None)
    if payload is None or not writes:
        return command
    definitions = (await definitions_by_location(conn, [command.location_id])).get(
        command.location_id, []
    )
    by_id = {d.id: d for d in definitions}
    out: list[CustomFieldWrite] = []
    for write in writes:
        if write.id is not None:
            known = by_id.get(write.id)
            if known is not None and write.field_value not in (None, ""):
                [ghl] = to_ghl_writes([known], {known.key: write.field_value})
                out.append(CustomFieldWrite(id=write.id, field_value=ghl["field_value"]))
            else:
                out.append(write)
            continue
        assert write.key is not None
        if not definitions:
            raise CustomFieldError(
                f"unknown custom field {write.key!r}: no custom field definitions are synced "
                f"for location {command.location_id!r} yet (the poller reads them at "
                "onboarding); name the field by id or retry later"
            )
        value = None if write.field_value == "" else write.field_value
        [ghl] = to_ghl_writes(definitions, {write.key: value})
        out.append(CustomFieldWrite(id=ghl["id"], field_value=ghl["field_value"]))
    changed = payload.model_copy(update={"customFields": out})
    return command.model_copy(update={"payload": changed})
