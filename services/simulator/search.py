"""Pure listing and search logic over rendered contacts (plain dicts).

`GET /contacts/` (deprecated list): ordered by (`dateAdded`, `id`) ascending; `startAfter`
(epoch ms of `dateAdded`) with `startAfterId` resume strictly after that position, so a walk
sees every contact exactly once even when `dateAdded` ties (UNCONFIRMED order: GHL documents
none). `count` is the number of matching contacts, like `meta.total` (UNCONFIRMED).

`POST /contacts/search`: `filters` (`{field, operator, value}` or `{group: AND|OR, filters}`,
top level ANDed), `sort` (default `dateAdded` desc; ties broken by `id`), `page`/`pageLimit`
(at most 10,000 records deep) or `searchAfter` (each item carries its `searchAfter` cursor:
its sort values and its id). Date fields compare as epoch milliseconds; a range value may be an
ISO time or epoch ms. String equality is case-insensitive; `eq` on a list field (tags) means
"contains this element".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from schemas import parse_ghl_time
from services.simulator._errors import ApiError

__all__ = [
    "after_cursor",
    "epoch_ms",
    "filter_contacts",
    "matches_query",
    "sort_contacts",
    "sort_key_values",
]

DATE_FIELDS = frozenset({"dateAdded", "dateUpdated", "dateOfBirth", "lastActivity"})
_OPERATORS = frozenset(
    {"eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range"}
)
_QUERY_FIELDS = ("name", "firstName", "lastName", "email", "phone", "companyName")


@functools.lru_cache(maxsize=1 << 18)
def _ms_of_text(value: str) -> int:
    return int(parse_ghl_time(value).timestamp() * 1000)


def _ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        if type(value) is str:
            # Rendered contacts repeat the same few timestamps on every search: cached.
            return _ms_of_text(value)
        return int(parse_ghl_time(value).timestamp() * 1000)
    except ValueError as exc:
        raise ApiError(422, [f"invalid date value {value!r}"]) from exc


def epoch_ms(value: Any) -> int | None:
    """A GHL time (ISO text, epoch ms, datetime) as epoch milliseconds; None when empty."""
    return _ms(value)


def matches_query(contact: dict[str, Any], query: str | None) -> bool:
    """Free-text match on names, email, phone and company (case-insensitive substring)."""
    if not query:
        return True
    needle = query.lower()
    return any(needle in str(contact.get(k) or "").lower() for k in _QUERY_FIELDS)


def _value(contact: dict[str, Any], field: str) -> Any:
    value = contact.get(field)
    return _ms(value) if field in DATE_FIELDS else value


def _eq(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        wanted = expected if isinstance(expected, list) else [expected]
        have = {str(a).lower() for a in actual}
        return all(str(w).lower() in have for w in wanted)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    return bool(actual == expected)


def _contains(actual: Any, expected: Any) -> bool:
    needle = str(expected).lower()
    if isinstance(actual, list):
        return any(needle in str(a).lower() for a in actual)
    return actual is not None and needle in str(actual).lower()


def _range(actual: Any, bounds: Any, is_date: bool) -> bool:
    if not isinstance(bounds, dict):
        raise ApiError(422, ["range filter value must be an object"])
    if actual is None:
        return False
    for op, bound in bounds.items():
        limit = _ms(bound) if is_date else bound
        checks = {"gte": actual >= limit, "gt": actual > limit,
                  "lte": actual <= limit, "lt": actual < limit}  # fmt: skip
        if op not in checks:
            raise ApiError(422, [f"unknown range operator {op}"])
        if not checks[op]:
            return False
    return True


def _match(contact: dict[str, Any], flt: dict[str, Any]) -> bool:
    if "group" in flt:
        parts = [_match(contact, f) for f in flt.get("filters", [])]
        if str(flt["group"]).upper() == "OR":
            return any(parts)
        return all(parts)
    field, op, value = flt.get("field"), flt.get("operator"), flt.get("value")
    if not isinstance(field, str) or op not in _OPERATORS:
        raise ApiError(422, [f"filters must have a field and one of {sorted(_OPERATORS)}"])
    actual = _value(contact, field)
    if op == "range":
        return _range(actual, value, field in DATE_FIELDS)
    if op in ("exists", "not_exists"):
        present = actual not in (None, "", [])
        return present if op == "exists" else not present
    if field in DATE_FIELDS and op in ("eq", "not_eq"):
        value = _ms(value)
    if op in ("eq", "not_eq"):
        return _eq(actual, value) is (op == "eq")
    return _contains(actual, value) is (op == "contains")


def filter_contacts(
    contacts: Sequence[dict[str, Any]], filters: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Contacts matching every top-level filter."""
    return [c for c in contacts if all(_match(c, f) for f in filters)]


def _sort_spec(sort: Sequence[dict[str, Any]]) -> list[tuple[str, bool]]:
    spec = [(str(s.get("field")), str(s.get("direction", "asc")).lower() == "desc") for s in sort]
    return spec or [("dateAdded", True)]


def _keyer(sort: Sequence[dict[str, Any]]) -> Any:
    fields = [(name, name in DATE_FIELDS) for name, _ in _sort_spec(sort)]

    def key(contact: dict[str, Any]) -> list[Any]:
        values = []
        for name, is_date in fields:
            value = contact.get(name)
            if is_date:
                value = _ms(value)
            elif isinstance(value, str):
                value = value.lower()
            values.append(value)
        values.append(contact["id"])
        return values

    return key


def sort_key_values(contact: dict[str, Any], sort: Sequence[dict[str, Any]]) -> list[Any]:
    """The `searchAfter` cursor of a contact: its sort values, then its id."""
    return list(_keyer(sort)(contact))


def _compare(a: list[Any], b: list[Any], desc: list[bool]) -> int:
    for x, y, reverse in zip(a, b, desc, strict=False):
        if x == y:
            continue
        result = -1 if x is None or (y is not None and x < y) else 1
        return -result if reverse else result
    return 0


def _none_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


def sort_contacts(
    contacts: Sequence[dict[str, Any]], sort: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Contacts in search order (the id breaks ties, ascending).

    The order `_compare` defines (None before any value, each field ascending or descending),
    built from stable sorts, least significant key first, with each contact's key computed once.
    """
    key = _keyer(sort)
    spec = _sort_spec(sort)
    keyed = [(key(c), c) for c in contacts]
    keyed.sort(key=lambda kc: kc[0][-1])
    for position in range(len(spec) - 1, -1, -1):
        keyed.sort(key=lambda kc: _none_first(kc[0][position]), reverse=spec[position][1])
    return [c for _, c in keyed]


def after_cursor(
    ordered: Sequence[dict[str, Any]], sort: Sequence[dict[str, Any]], cursor: list[Any]
) -> list[dict[str, Any]]:
    """The contacts strictly after a `searchAfter` cursor (`ordered` is in search order)."""
    desc = [reverse for _, reverse in _sort_spec(sort)] + [False]
    if len(cursor) != len(desc):
        raise ApiError(422, [f"searchAfter must have {len(desc)} values"])
    key = _keyer(sort)
    low, high = 0, len(ordered)
    while low < high:  # the first position whose key is after the cursor
        middle = (low + high) // 2
        if _compare(key(ordered[middle]), cursor, desc) > 0:
            high = middle
        else:
            low = middle + 1
    return list(ordered[low:])
