"""Prometheus metrics of the GHL client, in the process's default registry.

Every process that calls GHL (worker, poller, backfill, writer) exports them on its `/metrics`.
They are defined once per process (a second definition of the same name would fail), and
recording never raises or changes what the client does.

- `ghl_sync_ghl_requests_total{operation, status}`: every answer by HTTP status, and
  `status="error"` for requests that got no answer (retries are counted, each attempt once);
- `ghl_sync_ghl_rate_limited_total{operation}`: 429 answers;
- `ghl_sync_ghl_request_seconds{operation}`: time from sending to the answer;
- `ghl_sync_ghl_budget_remaining{location_id}` and `ghl_sync_ghl_daily_budget_remaining`:
  GHL's own `X-RateLimit-Remaining` / `X-RateLimit-Daily-Remaining` on the latest answer.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.ghl._ratelimit import RateLimitHeaders

__all__ = [
    "BUDGET_REMAINING",
    "DAILY_BUDGET_REMAINING",
    "RATE_LIMITED",
    "REQUESTS",
    "REQUEST_SECONDS",
    "record_answer",
    "record_no_answer",
]

REQUESTS = Counter(
    "ghl_sync_ghl_requests",
    "Requests to GHL by operation and answer status ('error': no answer).",
    ["operation", "status"],
)
RATE_LIMITED = Counter(
    "ghl_sync_ghl_rate_limited", "429 answers from GHL, by operation.", ["operation"]
)
REQUEST_SECONDS = Histogram(
    "ghl_sync_ghl_request_seconds",
    "Time from sending a request to GHL's answer.",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUDGET_REMAINING = Gauge(
    "ghl_sync_ghl_budget_remaining",
    "Requests left in the location's burst window, per GHL's latest X-RateLimit-Remaining.",
    ["location_id"],
)
DAILY_BUDGET_REMAINING = Gauge(
    "ghl_sync_ghl_daily_budget_remaining",
    "Requests left today for the location, per GHL's latest X-RateLimit-Daily-Remaining.",
    ["location_id"],
)


def record_answer(
    operation: str,
    location_id: str,
    status: int,
    seconds: float,
    headers: RateLimitHeaders | None,
) -> None:
    """Count one answer and keep the location's remaining budget."""
    REQUESTS.labels(operation, str(status)).inc()
    REQUEST_SECONDS.labels(operation).observe(seconds)
    if status == 429:
        RATE_LIMITED.labels(operation).inc()
    if headers is not None:
        if headers.remaining is not None:
            BUDGET_REMAINING.labels(location_id).set(headers.remaining)
        if headers.daily_remaining is not None:
            DAILY_BUDGET_REMAINING.labels(location_id).set(headers.daily_remaining)


def record_no_answer(operation: str) -> None:
    """Count a request that got no answer (connect error, timeout)."""
    REQUESTS.labels(operation, "error").inc()
