"""Fixtures of the integration tests beyond the servers' (those are in `tests/conftest.py`)."""

from __future__ import annotations

from tests.factories.writeback import api_client, world_factory

__all__ = ["api_client", "world_factory"]
