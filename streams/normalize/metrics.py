"""Prometheus metrics of normalize (served by the worker's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["BURST_GROUPS", "DEAD_LETTERS", "EVENTS", "IN_MEMORY", "PARKED", "QUEUED"]

EVENTS = Counter("ghl_sync_normalize_events", "Events produced to ghl.events.")
DEAD_LETTERS = Counter("ghl_sync_normalize_dead_letters", "Raw records dead-lettered.")
BURST_GROUPS = Counter(
    "ghl_sync_normalize_burst_groups", "Changes resolved in burst mode (by list calls)."
)
PARKED = Gauge(
    "ghl_sync_normalize_parked_records",
    "Records waiting on a parked location (no usable token).",
    ["location_id"],
)
QUEUED = Gauge("ghl_sync_normalize_queued_records", "Records queued on the location lanes.")
IN_MEMORY = Gauge(
    "ghl_sync_normalize_unfinished_records", "Records consumed whose events are not yet acked."
)
