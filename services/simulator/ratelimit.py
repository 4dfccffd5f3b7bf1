"""GHL's rate limits: a burst window and a daily quota per app per location.

- Burst: at most `rate_limit_max` requests in any `rate_limit_interval_ms` window. The window is
  *rolling* (a log of request times), the stricter reading: a client that paces for a fixed
  window can still be caught bursting across a boundary, as it may be by GHL (UNCONFIRMED which
  one GHL uses).
- Daily: `rate_limit_daily` per UTC calendar day, reset at 00:00 UTC (UNCONFIRMED reset time).
- A request refused with 429 does not count against either budget (UNCONFIRMED).
- The budget key is (app, location): the OAuth app's client id, or the PIT itself, and the
  token's location (UNCONFIRMED whether PITs share the app budget; here each PIT has its own).
- `X-RateLimit-Remaining` is the room left in the rolling window after this request. No
  `Retry-After` header is sent (GHL documents none).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from services.simulator.settings import SimulatorSettings

__all__ = ["RateDecision", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request may proceed, and the headers to answer with."""

    allowed: bool
    headers: dict[str, str]


@dataclass(slots=True)
class _Budget:
    window: deque[float] = field(default_factory=deque)
    day: date | None = None
    used_today: int = 0


class RateLimiter:
    """Counts requests per (app, location) budget."""

    def __init__(self, settings: SimulatorSettings, clock: Callable[[], datetime]) -> None:
        self.max = settings.rate_limit_max
        self.interval_ms = settings.rate_limit_interval_ms
        self.daily = settings.rate_limit_daily
        self._clock = clock
        self._budgets: dict[tuple[str, str], _Budget] = {}

    def reset(self) -> None:
        """Forget all counts (admin convenience)."""
        self._budgets.clear()

    def hit(self, app: str, location_id: str) -> RateDecision:
        """Count one request against the budget, unless it is exhausted."""
        now = self._clock()
        stamp = now.timestamp()
        budget = self._budgets.setdefault((app, location_id), _Budget())
        today = now.astimezone(UTC).date()
        if budget.day != today:
            budget.day, budget.used_today = today, 0
        horizon = stamp - self.interval_ms / 1000
        while budget.window and budget.window[0] <= horizon:
            budget.window.popleft()
        allowed = len(budget.window) < self.max and budget.used_today < self.daily
        if allowed:
            budget.window.append(stamp)
            budget.used_today += 1
        headers = {
            "X-RateLimit-Limit-Daily": str(self.daily),
            "X-RateLimit-Daily-Remaining": str(max(0, self.daily - budget.used_today)),
            "X-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-RateLimit-Max": str(self.max),
            "X-RateLimit-Remaining": str(max(0, self.max - len(budget.window))),
        }
        return RateDecision(allowed, headers)
