"""Typed custom field values. Pure: no I/O.

GHL sends every custom value as it was typed (the contacts spec says a string; numbers come
as strings or numbers, dates as ISO dates or epoch milliseconds). A `Definition` (from
`GET /locations/{locationId}/customFields`) says what the value is: numbers become numbers,
dates become dates, option fields are checked against their options. APPNAME reads and writes
them by key (`lead_score`, GHL's `fieldKey` without `contact.`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "CustomFieldError",
    "CustomValues",
    "Definition",
    "is_date",
    "is_multi",
    "is_number",
    "read_values",
    "to_ghl_writes",
    "typed_value",
    "values_by_key",
]

_NUMBERS: Final = frozenset({"NUMERICAL", "MONETORY", "MONETARY"})
_DATES: Final = frozenset({"DATE"})
_ONE_OPTION: Final = frozenset({"SINGLE_OPTIONS", "RADIO", "DROPDOWN"})
_MANY_OPTIONS: Final = frozenset({"MULTIPLE_OPTIONS", "CHECKBOX"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class CustomFieldError(ValueError):
    """A value that does not fit its field, or a key no field has; the message names both."""


@dataclass(frozen=True)
class Definition:
    """One custom field of a location."""

    id: str
    key: str
    """`fieldKey` without the `contact.` prefix."""
    name: str
    data_type: str
    options: tuple[str, ...] = ()

    @classmethod
    def from_ghl(cls, raw: Mapping[str, Any]) -> Definition:
        """A definition from GHL's `CustomFieldSchema` JSON."""
        key = str(raw.get("fieldKey") or raw.get("name") or raw["id"]).removeprefix("contact.")
        return cls(
            id=str(raw["id"]),
            key=key,
            name=str(raw.get("name") or key),
            data_type=str(raw.get("dataType") or "TEXT").upper(),
            options=tuple(str(o) for o in raw.get("picklistOptions") or ()),
        )


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
        if not parsed.is_finite():
            return None
        return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
    return None


def _date(value: Any) -> date | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return (_EPOCH + timedelta(milliseconds=value)).date()
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return (_EPOCH + timedelta(milliseconds=int(text))).date()
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def typed_value(definition: Definition, value: Any) -> Any:
    """`value` as its field's type (int/float, `date`, an option, a list of options, text);
    raises `CustomFieldError` naming the field and the value when it does not fit."""
    kind = definition.data_type

    def refuse(expected: str) -> CustomFieldError:
        return CustomFieldError(
            f"custom field {definition.key!r} ({kind}) takes {expected}, not {value!r}"
        )

    if kind in _NUMBERS:
        number = _number(value)
        if number is None:
            raise refuse("a number")
        return number
    if kind in _DATES:
        day = _date(value)
        if day is None:
            raise refuse("a date (YYYY-MM-DD)")
        return day
    if kind in _ONE_OPTION:
        if not isinstance(value, str) or (definition.options and value not in definition.options):
            raise refuse(f"one of {list(definition.options)}")
        return value
    if kind in _MANY_OPTIONS:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(i, str) for i in items) or (
            definition.options and not set(items) <= set(definition.options)
        ):
            raise refuse(f"a list of {list(definition.options)}")
        return list(items)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return value


def is_number(definition: Definition) -> bool:
    """Whether the field holds a number (NUMERICAL, MONETORY)."""
    return definition.data_type in _NUMBERS


def is_date(definition: Definition) -> bool:
    """Whether the field holds a date."""
    return definition.data_type in _DATES


def is_multi(definition: Definition) -> bool:
    """Whether the field holds a list of options (MULTIPLE_OPTIONS, CHECKBOX)."""
    return definition.data_type in _MANY_OPTIONS


@dataclass(frozen=True)
class CustomValues:
    """A contact's custom values as APPNAME reads them."""

    by_key: dict[str, Any]
    """Key → typed value (int/float, `date`, an option, a list of options, text)."""
    unknown: list[dict[str, Any]]
    """`{id, value}` of values no definition names (yet): shown as sent, never dropped."""
    invalid: list[dict[str, Any]]
    """`{key, value, reason}` of values that do not fit their field's type."""


def read_values(definitions: Iterable[Definition], values: Any) -> CustomValues:
    """GHL's `[{id, value}]` read by key: typed values, and the unknown and invalid ones kept
    apart (with the value as sent) so nothing is lost or passed off as typed."""
    by_id = {d.id: d for d in definitions}
    out = CustomValues({}, [], [])
    for item in values if isinstance(values, list) else ():
        if not isinstance(item, Mapping):
            continue
        field_id, raw = item.get("id"), item.get("value", item.get("fieldValue"))
        definition = by_id.get(str(field_id))
        if definition is None:
            out.unknown.append({"id": field_id, "value": raw})
            continue
        try:
            out.by_key[definition.key] = typed_value(definition, raw)
        except CustomFieldError as exc:
            out.invalid.append({"key": definition.key, "value": raw, "reason": str(exc)})
    return out


def values_by_key(
    definitions: Iterable[Definition], values: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """GHL's `[{id, value}]` as `{key: typed value}`, and the ids no definition names (sync
    the definitions again when there are any). A value that does not fit its type is kept
    as sent, not dropped."""
    by_id = {d.id: d for d in definitions}
    out: dict[str, Any] = {}
    unknown: list[str] = []
    for item in values:
        field_id, raw = item.get("id"), item.get("value", item.get("fieldValue"))
        definition = by_id.get(str(field_id))
        if definition is None:
            unknown.append(str(field_id))
            continue
        try:
            out[definition.key] = typed_value(definition, raw)
        except CustomFieldError:
            out[definition.key] = raw
    return out, unknown


def to_ghl_writes(
    definitions: Iterable[Definition], values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """APPNAME's `{key: value}` as GHL's `[{id, field_value}]`; refuses an unknown key or a
    wrong-typed value with a `CustomFieldError` naming both (None clears a field)."""
    by_key = {d.key: d for d in definitions}
    out: list[dict[str, Any]] = []
    for key, value in values.items():
        definition = by_key.get(key.removeprefix("contact."))
        if definition is None:
            known = ", ".join(sorted(by_key)) or "none"
            raise CustomFieldError(f"unknown custom field {key!r} (this location has: {known})")
        if value is None:
            out.append({"id": definition.id, "field_value": ""})
            continue
        typed = typed_value(definition, value)
        wire = typed.isoformat() if isinstance(typed, date) else typed
        out.append({"id": definition.id, "field_value": wire})
    return out
