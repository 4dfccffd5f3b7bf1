"""Report models from database rows whose columns are named as the models' fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import asyncpg
from pydantic import BaseModel

__all__ = ["by_location", "models_of"]

_M = TypeVar("_M", bound=BaseModel)


def models_of(model: type[_M], rows: Iterable[asyncpg.Record]) -> tuple[_M, ...]:
    """One `model` per row, its fields taken from the columns of the same names."""
    return tuple(model(**dict(row)) for row in rows)


def by_location(model: type[_M], rows: Iterable[asyncpg.Record]) -> dict[str, _M]:
    """`model` of each row's columns but `location_id`, keyed by that location."""
    return {
        row["location_id"]: model(**{k: v for k, v in row.items() if k != "location_id"})
        for row in rows
    }
