"""Prometheus metrics of the receiver, in a registry of their own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["REJECTION_REASONS", "ReceiverMetrics"]

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
        self.rejected = Counter(
            "ghl_sync_webhooks_rejected",
            "Deliveries rejected with a 4xx, by reason.",
            ["reason"],
            registry=registry,
        )
        self.accepted = Counter(
            "ghl_sync_webhooks_accepted",
            "Deliveries persisted to the raw topic.",
            registry=registry,
        )
        self.duplicates = Counter(
            "ghl_sync_webhooks_duplicates", "Replays dropped by webhookId.", registry=registry
        )
        self.not_persisted = Counter(
            "ghl_sync_webhooks_not_persisted",
            "Deliveries answered 429 because they could not be persisted, by reason.",
            ["reason"],
            registry=registry,
        )
        self.dedupe_unavailable = Counter(
            "ghl_sync_webhooks_dedupe_unavailable",
            "Deliveries persisted without replay check because PostgreSQL failed.",
            registry=registry,
        )
        self.latency = Histogram(
            "ghl_sync_webhooks_accept_seconds",
            "Time from request to 2xx for accepted deliveries.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        for reason in REJECTION_REASONS:
            self.rejected.labels(reason)
