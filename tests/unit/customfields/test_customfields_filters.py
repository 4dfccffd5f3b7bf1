"""Custom values read by key (typed, unknown and invalid kept apart) and the list filters'
parsing, with the refusal messages naming the key and the value."""

from __future__ import annotations

from datetime import date

import pytest

from services.customfields import CustomFieldError, Definition, parse_custom_filters, read_values

DEFS = [
    Definition("f1", "lead_score", "Lead score", "NUMERICAL"),
    Definition("f2", "renewal_date", "Renewal date", "DATE"),
    Definition("f3", "level", "Level", "SINGLE_OPTIONS", ("Gold", "Silver")),
    Definition("f4", "interests", "Interests", "MULTIPLE_OPTIONS", ("SMS", "Email")),
    Definition("f5", "deal", "Deal", "MONETORY"),
    Definition("f6", "about", "About", "LARGE_TEXT"),
]


def test_values_by_key_typed_with_unknown_and_invalid_ones_kept_apart() -> None:
    values = read_values(
        DEFS,
        [
            {"id": "f1", "value": "42"},
            {"id": "f2", "value": "1767225600000"},  # epoch ms: 2026-01-01
            {"id": "f3", "value": "Platinum"},
            {"id": "f4", "value": ["SMS"]},
            {"id": "f5", "value": "1,250.50"},
            {"id": "f6", "value": 7},
            {"id": "zz", "value": "who knows"},
            "not an object",
        ],
    )
    assert values.by_key == {
        "lead_score": 42, "renewal_date": date(2026, 1, 1), "interests": ["SMS"],
        "deal": 1250.5, "about": "7",
    }  # fmt: skip
    assert values.unknown == [{"id": "zz", "value": "who knows"}]
    [invalid] = values.invalid
    assert (invalid["key"], invalid["value"]) == ("level", "Platinum")
    assert "'level'" in invalid["reason"]
    assert "Platinum" in invalid["reason"]
    assert read_values(DEFS, None).by_key == {}


def test_filters_are_typed_by_their_field() -> None:
    parsed = parse_custom_filters(
        [
            ("custom.lead_score", "10"),
            ("custom.lead_score.lt", "20.5"),
            ("custom.renewal_date.gte", "2026-03-01"),
            ("custom.level", "Gold"),
            ("custom.interests", "SMS"),
            ("tag", "ignored"),
        ],
        DEFS,
    )
    assert [(f.key, f.op, f.kind, f.value) for f in parsed] == [
        ("lead_score", "eq", "number", 10),
        ("lead_score", "lt", "number", 20.5),
        ("renewal_date", "gte", "date", date(2026, 3, 1)),
        ("level", "eq", "text", "Gold"),
        ("interests", "eq", "options", "SMS"),
    ]


@pytest.mark.parametrize(
    ("param", "value", "named"),
    [
        ("custom.shoe_size", "9", ["'shoe_size'", "lead_score"]),
        ("custom.lead_score", "ten", ["'lead_score'", "'ten'"]),
        ("custom.renewal_date.lt", "2026-02-30", ["'renewal_date'", "'2026-02-30'"]),
        ("custom.level", "Platinum", ["'level'", "'Platinum'", "Gold"]),
        ("custom.interests", "Fax", ["'interests'", "'Fax'"]),
        ("custom.level.gt", "Gold", ["'level'", "ranges"]),
        ("custom.", "1", ["custom.lead_score=10"]),
    ],
)
def test_a_filter_the_field_cannot_hold_is_refused_naming_it(
    param: str, value: str, named: list[str]
) -> None:
    with pytest.raises(CustomFieldError) as refused:
        parse_custom_filters([(param, value)], DEFS)
    assert all(part in str(refused.value) for part in named), str(refused.value)


def test_a_key_with_different_types_in_two_locations_needs_a_location() -> None:
    other = Definition("g1", "lead_score", "Lead score", "TEXT")
    with pytest.raises(CustomFieldError, match="pass location_id"):
        parse_custom_filters([("custom.lead_score", "1")], [*DEFS, other])
    same = Definition("g2", "lead_score", "Lead score", "MONETORY")
    assert parse_custom_filters([("custom.lead_score", "1")], [*DEFS, same])[0].value == 1
