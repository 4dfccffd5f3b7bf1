"""Fault injection: latency, 5xx, 429 storms, stalls after applying, the 422-yet-created trap,
and dropped, duplicated or reordered webhooks.

Faults apply to the GHL API routes only, never to `/oauth/*` or `/_admin/*`. Each rate is the
probability of the fault per request (or per webhook delivery); 1.0 makes it certain, which is
what tests use. The current setting can be replaced at runtime (`POST /_admin/faults`).

- A 5xx (500, 502, 503 or 504) is answered *before* the operation runs: nothing changed.
- A stall runs the operation, then holds the answer `stall_seconds` and sends 504, as a load
  balancer would after its timeout; a client with a shorter timeout sees a timeout while the
  change was applied.
- The 422 trap (GHL issue #64) applies to creates: the record is created (and its webhook sent)
  but the answer is 422 `["Unprocessable Entity"]`.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from services.simulator._errors import ApiError
from services.simulator.settings import FaultSettings

__all__ = ["FaultInjector", "WebhookPlan"]

_5XX = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class WebhookPlan:
    """What happens to one webhook: dropped, or sent `copies` times after `delay` seconds."""

    drop: bool
    copies: int
    delay: float


class FaultInjector:
    """Draws faults from the current `FaultSettings` with its own seeded random source."""

    def __init__(self, settings: FaultSettings, *, seed: int = 0) -> None:
        self.current = settings
        self._rng = random.Random(f"ghl-sync-simulator-faults:{seed}")

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        return rate >= 1 or self._rng.random() < rate

    async def before_request(self) -> None:
        """Latency, then maybe a storm 429 or a 5xx (raised as `ApiError`)."""
        faults = self.current
        delay_ms = faults.latency_ms + self._rng.uniform(0, faults.latency_jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if self._roll(faults.rate_limit_storm_rate):
            raise ApiError(429, "Too Many Requests")
        if self._roll(faults.error_rate):
            status = self._rng.choice(_5XX)
            raise ApiError(status, "Internal server error" if status == 500 else "Upstream error")

    def stall_seconds(self) -> float | None:
        """Seconds to hold this request's answer after applying it, or None."""
        if self._roll(self.current.timeout_after_apply_rate):
            return self.current.stall_seconds
        return None

    def trap_create(self) -> bool:
        """Whether this create should answer 422 although it was applied."""
        return self._roll(self.current.create_422_rate)

    def after_create(self) -> None:
        """Called once a create is applied: raises the 422 of a trapped create (GHL #64)."""
        if self.trap_create():
            raise ApiError(422, ["Unprocessable Entity"])

    def webhook_plan(self) -> WebhookPlan:
        """The fate of one webhook."""
        faults = self.current
        if self._roll(faults.webhook_drop_rate):
            return WebhookPlan(drop=True, copies=0, delay=0.0)
        copies = 2 if self._roll(faults.webhook_duplicate_rate) else 1
        reorder = self._roll(faults.webhook_reorder_rate)
        return WebhookPlan(
            drop=False, copies=copies, delay=faults.webhook_reorder_delay_seconds if reorder else 0
        )
