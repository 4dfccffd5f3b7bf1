"""The SQL helpers the list filters use read custom values as Python's typing does: the same
number, the same date, or no value (never an error) for what does not fit."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from services.customfields import CustomFieldError, Definition, typed_value

pytestmark = pytest.mark.integration

NUMBER = Definition("n", "n", "n", "NUMERICAL")
DAY = Definition("d", "d", "d", "DATE")

VALUES: list[Any] = [
    "42", " 7 ", "-3", "1,250.50", "0.25", "1e3", 12, 12.5, -0.5, True, None, "", "ten", "NaN",
    "Infinity", "12abc", "2026-03-01", "2026-02-30", "2026-03-01T10:00:00Z", "1767225600000",
    1767225600000, "03/01/2026", ["1"], {"v": 1}, "  2026-12-31", "0",
]  # fmt: skip


def _python(definition: Definition, value: Any) -> Any:
    try:
        return typed_value(definition, value)
    except CustomFieldError:
        return None


async def test_numbers_and_dates_read_alike_in_sql_and_python(pg: asyncpg.Connection) -> None:
    rows = await pg.fetch(
        "SELECT ghl_cf_number(v) AS n, ghl_cf_date(v) AS d FROM unnest($1::jsonb[]) AS t(v)",
        [json.dumps(v) for v in VALUES],
    )
    for value, row in zip(VALUES, rows, strict=True):
        number = _python(NUMBER, value)
        assert (None if row["n"] is None else float(row["n"])) == (
            None if number is None else float(number)
        ), value
        assert row["d"] == _python(DAY, value), value


async def test_an_option_is_found_in_a_list_or_as_the_value(pg: asyncpg.Connection) -> None:
    cases = [(["SMS", "Email"], "SMS", True), (["Email"], "SMS", False), ("SMS", "SMS", True),
             (3, "3", False), (None, "SMS", False)]  # fmt: skip
    for value, option, expected in cases:
        found = await pg.fetchval("SELECT ghl_cf_has($1::jsonb, $2)", json.dumps(value), option)
        assert found is expected, (value, option)
