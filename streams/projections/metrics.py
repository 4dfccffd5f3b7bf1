"""Prometheus metrics of the projections (served by the worker's metrics endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["APPLIED", "BATCH_SECONDS", "DEAD_LETTERS", "LAG", "RETRIES", "SKIPPED"]

APPLIED = Counter("ghl_sync_projection_events_applied", "Events applied to the projection tables.")
SKIPPED = Counter(
    "ghl_sync_projection_events_skipped",
    "Events below the stored offsets (applied before a restart), not applied again.",
)
DEAD_LETTERS = Counter(
    "ghl_sync_projection_dead_letters", "Events sent to the dead-letter topic.", ["reason"]
)
RETRIES = Counter("ghl_sync_projection_batch_retries", "Batches retried after a lost connection.")
BATCH_SECONDS = Histogram(
    "ghl_sync_projection_batch_seconds",
    "Time to apply one batch (one transaction).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG = Gauge(
    "ghl_sync_projection_lag",
    "Events in ghl.events not yet applied, per partition (broker high watermark minus the "
    "next offset stored with the rows).",
    ["partition"],
)
