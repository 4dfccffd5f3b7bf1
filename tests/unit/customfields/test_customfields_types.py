"""Custom field typing and the refusal messages."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.customfields import (
    CustomFieldError,
    Definition,
    to_ghl_writes,
    typed_value,
    values_by_key,
)

DEFS = [
    Definition.from_ghl({"id": "f1", "fieldKey": "contact.lead_score", "name": "Lead score",
                         "dataType": "NUMERICAL"}),
    Definition.from_ghl({"id": "f2", "fieldKey": "contact.renewal_date", "dataType": "DATE"}),
    Definition.from_ghl({"id": "f3", "fieldKey": "contact.membership_level",
                         "dataType": "SINGLE_OPTIONS", "picklistOptions": ["Gold", "Silver"]}),
    Definition.from_ghl({"id": "f4", "fieldKey": "contact.note", "dataType": "TEXT"}),
]  # fmt: skip


def test_values_read_by_key_with_their_types() -> None:
    values, unknown = values_by_key(
        DEFS,
        [
            {"id": "f1", "value": "42"},
            {"id": "f2", "value": "2026-03-01"},
            {"id": "f3", "value": "Gold"},
            {"id": "f4", "value": 7},
            {"id": "fX", "value": "?"},
        ],
    )
    assert values == {
        "lead_score": 42,
        "renewal_date": date(2026, 3, 1),
        "membership_level": "Gold",
        "note": "7",
    }
    assert unknown == ["fX"]
    assert typed_value(DEFS[0], "2.5") == 2.5
    assert typed_value(DEFS[1], 1772323200000) == date(2026, 3, 1)


def test_writes_by_key_become_ids_and_bad_ones_are_refused_naming_key_and_value() -> None:
    assert to_ghl_writes(DEFS, {"lead_score": 10, "renewal_date": "2026-04-02"}) == [
        {"id": "f1", "field_value": 10},
        {"id": "f2", "field_value": "2026-04-02"},
    ]
    with pytest.raises(CustomFieldError, match=r"unknown custom field 'tier'.*lead_score"):
        to_ghl_writes(DEFS, {"tier": "x"})
    with pytest.raises(CustomFieldError, match=r"'lead_score' \(NUMERICAL\).*'lots'"):
        to_ghl_writes(DEFS, {"lead_score": "lots"})
    with pytest.raises(CustomFieldError, match=r"'membership_level'.*\['Gold', 'Silver'\].*'Tin'"):
        to_ghl_writes(DEFS, {"membership_level": "Tin"})
    with pytest.raises(CustomFieldError, match=r"'renewal_date' \(DATE\).*'soon'"):
        to_ghl_writes(DEFS, {"renewal_date": "soon"})


@given(st.integers(-(10**12), 10**12))
def test_numbers_round_trip_through_their_text(n: int) -> None:
    assert typed_value(DEFS[0], str(n)) == n
    assert to_ghl_writes(DEFS, {"lead_score": str(n)}) == [{"id": "f1", "field_value": n}]
