"""Liveness, readiness and `/metrics` for the long-running processes that are not web apps.

`HealthServer` serves, from a daemon thread (like `prometheus_client.start_http_server`):

- `GET /metrics`: the Prometheus registry;
- `GET /livez` (and `/healthz`): 200 while the process's event loop is turning, 503 when its
  heartbeat is older than `stale_after` seconds (a wedged loop: restart the process);
- `GET /readyz`: 200 when every readiness check passes, else 503 naming the ones that fail.

The checks run on the server's thread, so they only read plain values the event loop writes
(a float, a bool): no locks, no awaiting. `Heartbeat.run` keeps the liveness value fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "Heartbeat", "Readiness", "serving_health"]


@dataclass
class Heartbeat:
    """When the event loop last ran a beat (monotonic seconds); 0.0 before the first."""

    interval: float = 2.0
    last: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def beat(self) -> None:
        """Record that the loop is turning now."""
        self.last = self.clock()

    def age(self) -> float | None:
        """Seconds since the last beat; None before the first one."""
        return None if self.last == 0.0 else self.clock() - self.last

    async def run(self) -> None:
        """Beat every `interval` seconds until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(self.interval)


@dataclass
class Readiness:
    """Named conditions a process needs before it does its job (all False until set)."""

    conditions: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    """Why an unmet condition is unmet (e.g. "kafka": "KafkaConnectionError: ..."), if known."""

    def require(self, *names: str) -> None:
        """Declare conditions that start unmet."""
        for name in names:
            self.conditions.setdefault(name, False)

    def set(self, name: str, ok: bool = True, reason: str = "") -> None:
        """Mark one condition met (or no longer met, and why)."""
        if ok or not reason:
            self.reasons.pop(name, None)
        else:
            self.reasons[name] = reason
        self.conditions[name] = ok

    def failing(self) -> list[str]:
        """The unmet conditions, sorted."""
        return sorted(name for name, ok in dict(self.conditions).items() if not ok)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    _LIVE: ClassVar[frozenset[str]] = frozenset({"/livez", "/healthz"})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        if path == "/metrics":
            self._send(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
        elif path in self._LIVE:
            status, body = owner.liveness()
            self._json(status, body)
        elif path == "/readyz":
            status, body = owner.readiness()
            self._json(status, body)
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status: int, body: Mapping[str, object]) -> None:
        self._send(status, json.dumps(body, sort_keys=True).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds would flood the log; stay quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: HealthServer) -> None:
        super().__init__(address, _Handler)
        self.owner = owner


class HealthServer:
    """`/metrics`, `/livez`, `/healthz` and `/readyz` on one port, from a daemon thread."""

    def __init__(
        self,
        *,
        heartbeat: Heartbeat,
        readiness: Readiness,
        stale_after: float = 30.0,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.heartbeat = heartbeat
        self.readiness_conditions = readiness
        self.stale_after = stale_after
        self.registry = registry
        self._server: _Server | None = None

    def liveness(self) -> tuple[int, dict[str, object]]:
        """200 while the heartbeat is fresh (or has not started yet: the process is booting)."""
        age = self.heartbeat.age()
        if age is not None and age > self.stale_after:
            return 503, {"status": "stalled", "heartbeat_age_seconds": round(age, 1)}
        return 200, {
            "status": "ok",
            "heartbeat_age_seconds": None if age is None else round(age, 1),
        }

    def readiness(self) -> tuple[int, dict[str, object]]:
        """200 when every condition is met and the process is live."""
        failing = self.readiness_conditions.failing()
        live, _ = self.liveness()
        if self.heartbeat.age() is None or live != 200:
            failing.append("heartbeat")
        if failing:
            body: dict[str, object] = {"status": "not ready", "failing": failing}
            reasons = {n: r for n, r in dict(self.readiness_conditions.reasons).items() if r}
            if reasons:
                body["reasons"] = reasons
            return 503, body
        return 200, {"status": "ready"}

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("health server is not started")
        return int(self._server.server_address[1])

    def start(self, port: int, host: str = "0.0.0.0") -> None:
        """Bind (every interface by default: probes come from outside) and serve."""
        self._server = _Server((host, port), self)
        threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextlib.asynccontextmanager
async def serving_health(port: int) -> AsyncIterator[Readiness]:
    """Serve `/metrics`, `/livez` and `/readyz` on `port` (0: not at all) while the block runs.

    Live while the service's event loop turns; ready once the block has set `wired` (its
    connections are up), until it ends.
    """
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
