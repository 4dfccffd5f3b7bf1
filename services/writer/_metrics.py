"""Prometheus metrics of the writer (served on `GHL_SYNC_WRITER_METRICS_PORT`)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["ADOPTED", "COMMANDS"]

COMMANDS = Counter(
    "ghl_sync_writer_commands", "Commands that reached a terminal state, by state.", ["state"]
)
ADOPTED = Counter(
    "ghl_sync_writer_adopted_creates",
    "Creates whose outcome was unknown and whose object was found in GHL instead of created again.",
)
