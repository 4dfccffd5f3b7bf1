"""`/metrics`, `/livez` and `/readyz` of `ghl-sync poller` (see `services.status.health`).

Live while the poller's event loop turns; ready once its database pool, Kafka producer and
GHL client are up (`wired`), until it shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.status.health import HealthServer, Heartbeat, Readiness

__all__ = ["serving_health"]


@contextlib.asynccontextmanager
async def serving_health(port: int) -> AsyncIterator[Readiness]:
    """Serve health and metrics on `port` (0: not at all) while the block runs."""
    heartbeat, readiness = Heartbeat(), Readiness()
    readiness.require("wired")
    server = HealthServer(heartbeat=heartbeat, readiness=readiness)
    if port:
        server.start(port)
    beating = asyncio.create_task(heartbeat.run())
    try:
        yield readiness
    finally:
        readiness.set("wired", False)
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        server.stop()
