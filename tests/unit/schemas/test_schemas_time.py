"""GhlTime: every time format GHL uses becomes an aware datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas import GhlTime, OptionalGhlTime, parse_ghl_time

IST = timezone(timedelta(hours=5, minutes=30))


class _Required(BaseModel):
    at: GhlTime


class _Optional(BaseModel):
    at: OptionalGhlTime = None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-11-26T12:41:02.193Z", datetime(2021, 11, 26, 12, 41, 2, 193000, tzinfo=UTC)),
        ("2023-09-25T16:00:00+05:30", datetime(2023, 9, 25, 16, 0, tzinfo=IST)),
        ("2021-07-16 11:00:00", datetime(2021, 7, 16, 11, 0, tzinfo=UTC)),
        ("2021-07-16T11:00:00", datetime(2021, 7, 16, 11, 0, tzinfo=UTC)),
        ("  2021-07-16T11:00:00Z ", datetime(2021, 7, 16, 11, 0, tzinfo=UTC)),
        (1637930462193, datetime(2021, 11, 26, 12, 41, 2, 193000, tzinfo=UTC)),
        ("1637930462193", datetime(2021, 11, 26, 12, 41, 2, 193000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (datetime(2021, 1, 1, 9, 30), datetime(2021, 1, 1, 9, 30, tzinfo=UTC)),
        (datetime(2021, 1, 1, 9, 30, tzinfo=IST), datetime(2021, 1, 1, 9, 30, tzinfo=IST)),
    ],
)
def test_accepts_ghl_formats(raw: object, expected: datetime) -> None:
    parsed = _Required.model_validate({"at": raw}).at
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_keeps_the_offset_rather_than_normalising_to_utc() -> None:
    parsed = _Required.model_validate({"at": "2023-09-25T16:00:00+05:30"}).at
    assert parsed.utcoffset() == timedelta(hours=5, minutes=30)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_optional_blank_is_none(raw: object) -> None:
    assert _Optional.model_validate({"at": raw}).at is None


def test_optional_missing_is_none() -> None:
    assert _Optional().at is None


@pytest.mark.parametrize("raw", ["", "yesterday", "2021-13-45T00:00:00Z", True, [], {}, None])
def test_required_rejects_non_times(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        _Required.model_validate({"at": raw})
    assert info.value.errors()[0]["loc"] == ("at",)


def test_parse_rejects_out_of_range_epoch() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_ghl_time(10**20)


def test_parse_rejects_nan() -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_ghl_time(float("nan"))


@settings(database=None, deadline=None)
@given(millis=st.integers(min_value=0, max_value=4_102_444_800_000))
def test_epoch_millis_and_iso_agree(millis: int) -> None:
    from_int = parse_ghl_time(millis)
    from_text = parse_ghl_time(str(millis))
    from_iso = parse_ghl_time(from_int.isoformat())
    assert from_int == from_text == from_iso
    assert from_int.tzinfo is not None
