"""The projections' collector pace: young collections at a batch's pace, start-up frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.projections._gc import pace_collector


@pytest.fixture
def collector() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


@pytest.mark.usefixtures("collector")
def test_pace_freezes_what_exists_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    pace_collector()
    assert gc.get_threshold() == (50_000, 20, 100)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("collector")
def test_pace_never_lowers_a_threshold_set_higher() -> None:
    gc.set_threshold(200_000, 5, 5)
    pace_collector()
    assert gc.get_threshold() == (200_000, 5, 5)
