"""The write-back tests import their world from here; it lives in `tests/factories/writeback.py`
and its fixtures are registered by `tests/integration/conftest.py`. No tests here."""

from __future__ import annotations

from tests.factories.writeback import (
    API_KEY,
    PARTITIONS,
    SIM,
    World,
    WorldFactory,
    api_client,
    end_offsets,
    read_topic,
    results_by_id,
    world_factory,
)

__all__ = [
    "API_KEY",
    "PARTITIONS",
    "SIM",
    "World",
    "WorldFactory",
    "api_client",
    "end_offsets",
    "read_topic",
    "results_by_id",
    "world_factory",
]
