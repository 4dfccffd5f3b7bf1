"""Prometheus metrics of the receiver, in a registry of their own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["REJECTION_REASONS", "ReceiverMetrics"]

_PREFIX = "ghl_sync_webhooks_"

REJECTION_REASONS = (
    "body_too_large",
    "missing_signature",
    "bad_signature",
    "malformed_json",
    "not_an_object",
    "missing_timestamp",
    "bad_timestamp",
    "stale_timestamp",
    "future_timestamp",
)
"""Every reason a delivery is rejected with a 4xx."""


class ReceiverMetrics:
    """Counters by outcome and reason, and the latency of accepted deliveries."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def counter(name: str, documentation: str, *labels: str) -> Counter:
            return Counter(f"{_PREFIX}{name}", documentation, labels, registry=registry)

        self.rejected = counter("rejected", "Deliveries rejected with a 4xx, by reason.", "reason")
        self.accepted = counter("accepted", "Deliveries persisted to the raw topic.")
        self.duplicates = counter("duplicates", "Replays dropped by webhookId.")
        self.not_persisted = counter(
            "not_persisted",
            "Deliveries answered 429 because they could not be persisted, by reason.",
            "reason",
        )
        self.dedupe_unavailable = counter(
            "dedupe_unavailable",
            "Deliveries persisted without replay check because PostgreSQL failed.",
        )
        self.latency = Histogram(
            f"{_PREFIX}accept_seconds",
            "Time from request to 2xx for accepted deliveries.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        for reason in REJECTION_REASONS:
            self.rejected.labels(reason)
