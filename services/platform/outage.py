"""One policy for a lost broker or a lost database, shared by every long-running service.

The policy (the receiver, the API, the writer, the worker and the poller follow it):

1. **Stay up.** A lost Kafka or PostgreSQL is an expected condition, not a crash: the process
   keeps serving `/livez` (200) and answers `/readyz` 503 naming the dependency and why.
2. **Wait calmly.** Reconnect with capped exponential backoff and full jitter (`Backoff`): at
   most one attempt every `cap` seconds (5 s by default) once the outage is a few seconds old,
   and never in lockstep with the other processes. Kafka clients get `kafka_client_options()`
   so aiokafka's own retries are paced too (its `retry_backoff_ms`; aiokafka 0.14 has no
   separate reconnect backoff), and `quiet_kafka_logs()` keeps its per-attempt connection
   errors out of the log.
3. **Log twice per outage.** `Dependency.lost` logs one WARNING line when the dependency goes
   (what, why, how the process waits) and `Dependency.restored` one when it is back, with the
   outage's length. Nothing in between, never a traceback for an expected outage.
4. **Resume by itself.** Work continues from durable state (offsets and command state in
   PostgreSQL, acks on Kafka); a supervisor restart is the last resort, not the policy.

A service wires it in one line per dependency, e.g.
`kafka = Dependency("kafka", log=_log, on_change=ready.set)` (`ready`: the `Readiness` of
`serving_health`) and then any of: `pool = await postgres.wait_for(connect)` (retry until it
succeeds), `await keep_running(loop, postgres=(postgres, probe), kafka=(kafka, probe))` (run
the service's loop again after each outage error), or `kafka.lost(exc)` / `kafka.restored()`
/ `kafka.may_try()` around its own calls (a request path).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from aiokafka.errors import KafkaError

__all__ = [
    "DATABASE_ERRORS",
    "KAFKA_ERRORS",
    "Backoff",
    "Dependency",
    "Probe",
    "database_outage",
    "kafka_client_options",
    "kafka_outage",
    "keep_running",
    "probe_pool",
    "quiet_kafka_logs",
    "stop_quietly",
    "watch",
]

T = TypeVar("T")

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, no route; asyncpg raises the socket's errors as they are
    TimeoutError,
    asyncpg.PostgresConnectionError,  # the connection broke or could not be made
    asyncpg.InterfaceError,  # "connection is closed", a pool closing under the caller
    asyncpg.CannotConnectNowError,  # "the database system is starting up / shutting down"
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # A pooled connection whose query was cut off by the outage fails its reset this way.
    asyncpg.InternalClientError,
)
"""What PostgreSQL going away looks like to asyncpg (retryable; not a bug, not bad data)."""

KAFKA_ERRORS: tuple[type[Exception], ...] = (KafkaError, OSError, TimeoutError)
"""What Kafka going away looks like to aiokafka."""


def database_outage(exc: BaseException) -> bool:
    """Whether `exc` means "PostgreSQL is unreachable" (rather than a bug or bad SQL)."""
    return isinstance(exc, DATABASE_ERRORS)


def kafka_outage(exc: BaseException) -> bool:
    """Whether `exc` means "Kafka is unreachable or did not confirm"."""
    return isinstance(exc, KAFKA_ERRORS)


def kafka_client_options(*, retry_backoff_ms: int = 1000) -> dict[str, Any]:
    """Keyword arguments for every aiokafka producer, consumer and admin client.

    aiokafka retries a failed connect or request after `retry_backoff_ms` (100 ms by default:
    about 20 connects a second per client while the broker is away, with an ERROR line each).
    1 s bounds that to about one connect a second per client; the services' own reconnect
    loops back off further (up to `Backoff.cap`). `metadata_max_age_ms` stays at its default.
    """
    return {"retry_backoff_ms": retry_backoff_ms}


_NOISY_KAFKA_MESSAGES = (
    "Unable connect to",
    "Unable to update metadata",
    "Unable to request metadata",
    "Got error produce response",
    "Failed fetch messages from",
    "Group Coordinator Request failed",
    "Heartbeat send request failed",
    "Heartbeat failed",
    "Heartbeat session expired",
    "Marking the coordinator dead",
    "Cannot send",
    "Could not send",
    "OffsetCommit failed before join",
    "Error sending",  # "... to node N [NodeNotReadyError ...] -- marking coordinator dead"
)


class _KafkaConnectionNoise(logging.Filter):
    """Drops aiokafka's per-attempt connection errors: one per retry, thousands per outage."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(_NOISY_KAFKA_MESSAGES)


_FILTER = _KafkaConnectionNoise()
# A filter on a logger sees only records logged on that very logger, so each module's.
_KAFKA_LOGGERS = (
    "aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.admin.client",
    "aiokafka.producer.producer", "aiokafka.producer.sender", "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
)  # fmt: skip


def quiet_kafka_logs() -> None:
    """Keep aiokafka's repeated connection errors out of the log (idempotent).

    Called by entry points (they own logging). The outage itself is still logged, once, by the
    service's `Dependency`; other aiokafka messages pass.
    """
    for name in _KAFKA_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter: the n-th wait is uniform in
    [0, min(cap, first * 2**n)] but never below `floor`, so retries stay spread out."""

    first: float = 0.5
    cap: float = 5.0
    floor: float = 0.1
    rng: Callable[[], float] = random.random
    tries: int = 0

    def next(self) -> float:
        """Seconds to wait before the next attempt."""
        ceiling = min(self.cap, self.first * 2.0**self.tries)
        self.tries += 1
        return max(self.floor, ceiling * self.rng())

    def reset(self) -> None:
        """Start over after a success."""
        self.tries = 0


def _describe(reason: BaseException | str) -> str:
    if isinstance(reason, str):
        return reason
    text = str(reason).strip().splitlines()[0][:200] if str(reason).strip() else ""
    name = type(reason).__name__
    if not text or text.startswith(name):
        return text or name
    return f"{name}: {text}"


@dataclass
class Dependency:
    """One dependency's state (up, or down since when and why), logged once per change.

    `on_change(name, up, reason)` is called on every change (e.g. to set a readiness condition).
    The state starts up: a dependency is "lost" only once something failed to reach it.
    """

    name: str
    log: logging.Logger
    on_change: Callable[[str, bool, str], None] | None = None
    clock: Callable[[], float] = time.monotonic
    backoff: Backoff = field(default_factory=Backoff)
    down_since: float | None = None
    reason: str = ""
    outages: int = 0
    last_outage_seconds: float | None = None
    next_try: float = 0.0
    """While down: the earliest time (`clock`) `may_try` lets a caller try again."""

    @property
    def up(self) -> bool:
        """Whether the last contact with the dependency worked."""
        return self.down_since is None

    def down_for(self) -> float:
        """Seconds the current outage has lasted (0 while up)."""
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def retry_after(self) -> int:
        """Whole seconds a client should wait before trying again (for `Retry-After`)."""
        return max(1, min(int(self.backoff.cap), 1 + int(self.down_for() // 10)))

    def lost(self, reason: BaseException | str) -> None:
        """Record a failed contact; logs only the first one of an outage."""
        self.reason = _describe(reason)
        if self.down_since is not None:
            return
        self.down_since = self.clock()
        self.next_try = self.down_since + self.backoff.next()
        self.outages += 1
        self.log.warning(
            "%s unreachable (%s); staying up, retrying with backoff (at most every %.0fs), "
            "not ready until it is back",
            self.name, self.reason, self.backoff.cap,
        )  # fmt: skip
        if self.on_change is not None:
            self.on_change(self.name, False, self.reason)

    def restored(self) -> None:
        """Record a successful contact; logs the recovery (with the outage's length) once."""
        self.backoff.reset()
        if self.down_since is None:
            return
        seconds = self.clock() - self.down_since
        self.down_since = None
        self.last_outage_seconds = seconds
        self.log.warning("%s is back after %.1fs unreachable; resuming", self.name, seconds)
        self.reason = ""
        if self.on_change is not None:
            self.on_change(self.name, True, "")

    def may_try(self) -> bool:
        """Whether a caller should reach for the dependency now: always while it is up, once
        per backoff interval while it is down (that caller's attempt is the reconnect; the
        others fail fast). Bounds the reconnect rate however many requests arrive."""
        if self.down_since is None:
            return True
        now = self.clock()
        if now < self.next_try:
            return False
        self.next_try = now + self.backoff.next()
        return True

    async def pause(self) -> None:
        """Sleep the next backoff interval."""
        await asyncio.sleep(self.backoff.next())

    async def wait_for(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retry_on: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Run `attempt` until it succeeds, backing off between failures that `retry_on`
        accepts (default: any `DATABASE_ERRORS` or `KAFKA_ERRORS`); other errors propagate."""
        accept = retry_on or (lambda exc: database_outage(exc) or kafka_outage(exc))
        while True:
            try:
                result = await attempt()
            except Exception as exc:
                if not accept(exc):
                    raise
                self.lost(exc)
                await self.pause()
                continue
            self.restored()
            return result


async def watch(
    dependency: Dependency,
    probe: Callable[[], Awaitable[bool | None]],
    *,
    every: float = 5.0,
    patience: float = 5.0,
) -> None:
    """Probe `dependency` every `every` seconds while it is up and on its backoff while it is
    down, until cancelled, so readiness is true even when the service has nothing to do.

    `probe` raises (or times out) when the dependency is unreachable; returning False means
    "no verdict now" (e.g. no client to probe with yet) and changes nothing. A probe slower
    than `patience` seconds counts as a failure.
    """
    while True:
        try:
            verdict = await asyncio.wait_for(probe(), patience)
        except Exception as exc:  # any failure of a probe means "not reachable"; reason kept
            dependency.lost(exc)
            await dependency.pause()
            continue
        if verdict is not False:
            dependency.restored()
        await asyncio.sleep(every)


async def probe_pool(pool: asyncpg.Pool) -> None:
    """One `SELECT 1` through `pool` (raises while PostgreSQL is away).

    A query cut off by the outage (or by the probe's own timeout) can leave a pooled
    connection in a state asyncpg refuses to reuse (`InternalClientError: cannot switch to
    state ...`); every later probe would draw it again and the service would never be ready.
    Such a pool's connections are expired, so the next attempt opens fresh ones.
    """
    try:
        await pool.fetchval("SELECT 1")
    except asyncpg.InternalClientError:
        await pool.expire_connections()
        raise


Probe = Callable[[], Awaitable[bool | None]]
"""Raises (or times out) when a dependency is unreachable; False: no verdict now."""


async def keep_running(
    run: Callable[[], Awaitable[None]],
    *,
    postgres: tuple[Dependency, Probe] | None = None,
    kafka: tuple[Dependency, Probe] | None = None,
) -> None:
    """Run `run()`, and run it again after every outage error, until it returns or fails
    with anything else (a bug: that propagates). The process-level half of the policy.

    Between runs it waits the lost dependency's backoff. Each `(dependency, probe)` is
    watched meanwhile (`watch`), so readiness and the "is back" line follow the dependency
    itself, also while `run` is idle. A bare `OSError` or timeout could be either driver's:
    the PostgreSQL probe decides.
    """
    watchers = [
        asyncio.create_task(watch(dependency, probe))
        for dependency, probe in (p for p in (postgres, kafka) if p is not None)
    ]
    try:
        while True:
            try:
                await run()
                return
            except Exception as exc:
                lost = await _blame(exc, postgres=postgres, kafka=kafka)
                if lost is None:
                    raise
                lost.lost(exc)
                await lost.pause()
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)


async def _blame(
    exc: BaseException,
    *,
    postgres: tuple[Dependency, Probe] | None,
    kafka: tuple[Dependency, Probe] | None,
) -> Dependency | None:
    """Which dependency an error says is gone (None: neither, or not one we watch)."""
    if isinstance(exc, KafkaError):
        return kafka[0] if kafka else None
    ambiguous = isinstance(exc, OSError | TimeoutError)
    if database_outage(exc) and not ambiguous:
        return postgres[0] if postgres else None
    if not ambiguous:
        return None
    if postgres is None or kafka is None:
        only = postgres or kafka
        return only[0] if only else None
    try:
        await asyncio.wait_for(postgres[1](), 5)
    except Exception:
        return postgres[0]
    return kafka[0]


async def stop_quietly(client: Any, within: float) -> None:
    """Stop an aiokafka client, at most `within` seconds, whatever state the outage left it in.

    While the broker is away `stop()` can wait for buffered records to expire, fail, or let a
    `CancelledError` of its own cancelled fetch tasks escape (aiokafka's fetcher re-awaits
    them); none of that may end the service. A cancellation of the caller itself propagates.
    """
    try:
        await asyncio.wait_for(client.stop(), within)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:  # the client is being dropped; its failure changes nothing
        pass
