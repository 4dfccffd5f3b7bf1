"""Prometheus metrics of the poller (prefix `ghl_sync_poller_`), in the default registry.

- `ghl_sync_poller_cycles_total{outcome}`: location cycles, `ok` or `failed`;
- `ghl_sync_poller_cycle_errors_total{error}`: failed cycles by the GHL error's class (a
  closed set: the client's exception tree), so a bad key shows as `AuthError`;
- `ghl_sync_poller_cycle_seconds`: time of one location's cycle;
- `ghl_sync_poller_leases`: locations this instance holds;
- per held location, refreshed at every lease tick from the shared accounting:
  `ghl_sync_poller_requests_today{location_id, request_class}` (every process's requests
  today, by class), `ghl_sync_poller_projected_daily_requests{location_id}` (the plan),
  `ghl_sync_poller_staleness_bound_seconds{location_id}` (the plan's sweep period) and
  `ghl_sync_poller_oldest_unswept_seconds{location_id}` (age of the stalest contact).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CYCLES",
    "CYCLE_ERRORS",
    "CYCLE_SECONDS",
    "LEASES",
    "OLDEST_UNSWEPT",
    "PROJECTED",
    "REQUESTS_TODAY",
    "STALENESS_BOUND",
]

CYCLES = Counter("ghl_sync_poller_cycles", "Location poll cycles by outcome.", ["outcome"])
CYCLE_ERRORS = Counter(
    "ghl_sync_poller_cycle_errors",
    "Failed location poll cycles by the class of the GHL error.",
    ["error"],
)
CYCLE_SECONDS = Histogram(
    "ghl_sync_poller_cycle_seconds",
    "Seconds of one location's poll cycle.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
LEASES = Gauge("ghl_sync_poller_leases", "Locations this poller instance holds a lease on.")
REQUESTS_TODAY = Gauge(
    "ghl_sync_poller_requests_today",
    "GHL requests today (UTC) of a held location by request class, all processes.",
    ["location_id", "request_class"],
)
PROJECTED = Gauge(
    "ghl_sync_poller_projected_daily_requests",
    "Requests per day the location's quota plan spends.",
    ["location_id"],
)
STALENESS_BOUND = Gauge(
    "ghl_sync_poller_staleness_bound_seconds",
    "The plan's children sweep period: every contact is swept again within it.",
    ["location_id"],
)
OLDEST_UNSWEPT = Gauge(
    "ghl_sync_poller_oldest_unswept_seconds",
    "Age of the stalest contact's last children read.",
    ["location_id"],
)
