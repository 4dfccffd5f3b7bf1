"""List filters on custom fields, checked against the definitions. Pure: no I/O.

`?custom.<key>=value` keeps the contacts whose field equals the value (for a field of many
options: whose options include it); `?custom.<key>.gt|gte|lt|lte=value` compares numbers and
dates. Values are read as the field's type (`10`, `2026-03-01`, an option of the field), so a
filter the field cannot satisfy is refused with a message naming the key and the value
instead of matching nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from services.customfields.types import (
    CustomFieldError,
    Definition,
    is_date,
    is_multi,
    is_number,
    typed_value,
)

__all__ = ["PREFIX", "CustomFilter", "parse_custom_filters"]

PREFIX: Final = "custom."
_OPS: Final = ("eq", "gt", "gte", "lt", "lte")

Kind = Literal["number", "date", "options", "text"]


@dataclass(frozen=True)
class CustomFilter:
    """One condition on a custom field, its value already of the field's type."""

    key: str
    op: str
    """`eq`, `gt`, `gte`, `lt` or `lte`."""
    kind: Kind
    value: int | float | date | str


def _kind(definition: Definition) -> Kind:
    if is_number(definition):
        return "number"
    if is_date(definition):
        return "date"
    if is_multi(definition):
        return "options"
    return "text"


def parse_custom_filters(
    params: Iterable[tuple[str, str]], definitions: Iterable[Definition]
) -> list[CustomFilter]:
    """The `custom.` query parameters as filters; `definitions` are those of the locations
    listed (a key may exist in several). Raises `CustomFieldError` naming the key."""
    by_key: dict[str, list[Definition]] = {}
    for definition in definitions:
        by_key.setdefault(definition.key, []).append(definition)
    out: list[CustomFilter] = []
    for name, raw in params:
        if not name.startswith(PREFIX):
            continue
        key, _, op = name[len(PREFIX) :].rpartition(".")
        if op not in _OPS:
            key, op = name[len(PREFIX) :], "eq"
        if not key:
            raise CustomFieldError(f"{name!r}: name a custom field, e.g. custom.lead_score=10")
        found = by_key.get(key)
        if not found:
            known = ", ".join(sorted(by_key)[:30]) or "none synced yet"
            raise CustomFieldError(f"unknown custom field {key!r} (known keys: {known})")
        kinds = {_kind(d) for d in found}
        if len(kinds) > 1:
            raise CustomFieldError(
                f"custom field {key!r} has different types in different locations "
                f"({', '.join(sorted({d.data_type for d in found}))}): pass location_id"
            )
        kind = kinds.pop()
        if op != "eq" and kind not in ("number", "date"):
            raise CustomFieldError(
                f"custom field {key!r} ({found[0].data_type}) has no order: "
                f"use custom.{key}={raw!r} (ranges are for numbers and dates)"
            )
        out.append(CustomFilter(key, op, kind, _typed(found, raw)))
    return out


def _typed(found: list[Definition], raw: str) -> int | float | date | str:
    """The value as the field's type; for option fields, an option of one of them."""
    error: CustomFieldError | None = None
    for definition in found:
        try:
            value = typed_value(definition, raw)
        except CustomFieldError as exc:
            error = error or exc
            continue
        if isinstance(value, list):
            return str(value[0])
        assert isinstance(value, int | float | date | str)
        return value
    assert error is not None
    raise error
