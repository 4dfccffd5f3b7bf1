"""The health endpoints moved to `services.platform.health` (shared I/O under every process);
these names stay importable from here for the commands that still say so."""

from services.platform.health import HealthServer, Heartbeat, Readiness, serving_health

__all__ = ["HealthServer", "Heartbeat", "Readiness", "serving_health"]
