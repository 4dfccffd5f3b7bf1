"""Timestamps as GHL sends them.

GHL is inconsistent about time: webhooks and most REST reads give ISO-8601 with `Z`, the
calendar API gives offsets such as `+05:30`, some list endpoints give `2021-07-16 11:00:00`
without any zone, and paging cursors are epoch milliseconds. `GhlTime` accepts all of these and
always yields a timezone-aware `datetime`; the original offset is kept.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeAlias

from pydantic import BeforeValidator

__all__ = ["GhlTime", "OptionalGhlTime", "parse_ghl_time"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MS = re.compile(r"-?\d+")


def _from_epoch_ms(millis: int | float) -> datetime:
    # timedelta arithmetic is exact for integers, unlike fromtimestamp(millis / 1000).
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError as exc:
        raise ValueError(f"epoch milliseconds out of range: {millis!r}") from exc


def _aware(value: datetime) -> datetime:
    # GHL's zoneless times are UTC (its servers and docs examples use UTC throughout).
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value


def parse_ghl_time(value: object) -> datetime:
    """Convert a GHL time (ISO string, epoch ms as int or digits, or `datetime`) to aware time.

    Raises `ValueError` for anything else, including the empty string and booleans.
    """
    # Fast path for what nearly every value is, an ISO date-time ("YYYY-..."): the checks
    # below would give the same answer, only slower. Digit strings (epoch ms) never have a
    # dash at index 4, so they keep their meaning.
    if type(value) is str and len(value) >= 10 and value[4] == "-":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return _aware(value)
    # bool is a subclass of int; `true` is never a time.
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number of milliseconds: {value!r}")
        return _from_epoch_ms(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty string is not a time")
        if _EPOCH_MS.fullmatch(text):
            return _from_epoch_ms(int(text))
        try:
            return _aware(datetime.fromisoformat(text))
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 time or epoch milliseconds: {value!r}") from exc
    raise ValueError(f"expected an ISO-8601 string, epoch milliseconds or datetime, got {value!r}")


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


GhlTime: TypeAlias = Annotated[datetime, BeforeValidator(parse_ghl_time)]
"""A required GHL timestamp; always timezone-aware (zoneless input is taken as UTC)."""

# `GhlTime | None` alone would not map "" to None: pydantic checks for None before the inner
# validator runs, so the blank check has to sit outside the union.
OptionalGhlTime: TypeAlias = Annotated[GhlTime | None, BeforeValidator(_blank_to_none)]
"""An optional GHL timestamp: like `GhlTime`, and `None`, `""` or whitespace give `None`."""
