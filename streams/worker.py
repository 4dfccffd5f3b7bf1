"""`ghl-sync worker`: the Faust worker running ghl-sync's stream processors.

With `metrics_port` set, the port serves `/metrics`, `/livez` (the worker's event loop is
turning) and `/readyz` (every processor is running; a processor that stopped makes the worker
unready until the restart that its failure policy asks for).

Outage policy (`services.platform.outage`): a lost broker or PostgreSQL never stops the
worker. Kafka is probed every few seconds (`kafka` on `/readyz`, one line when it goes and one
when it is back; the processors' clients wait it out at the policy's pace), and so is
PostgreSQL for the sinks: each sink logs a lost PostgreSQL once and waits it out (`postgres`
on `/readyz`). A processor that an outage stopped anyway is run again once the broker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import faust
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from services.platform.connections import KafkaSettings, kafka_options
from services.platform.health import HealthServer, Heartbeat, Readiness
from services.platform.outage import (
    Backoff,
    Dependency,
    database_outage,
    kafka_client_options,
    kafka_outage,
    quiet_kafka_logs,
    watch,
)
from streams.admin import ensure_topics
from streams.app import create_app
from streams.ghl_fetcher import default_fetcher_factory
from streams.history.consumer import HistoryConsumer
from streams.normalize import FetcherFactory, GhlFetcher, register_normalize
from streams.projections.consumer import ProjectionConsumer
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["build_worker_app", "run_worker"]

log = logging.getLogger("streams.worker")

_KAFKA_PROBE_SECONDS = 2.0
_POSTGRES_PROBE_SECONDS = 5.0
_PROBE_TIMEOUT_SECONDS = 5.0
_SETTLED_SECONDS = 30.0
"""A processor that ran this long before an outage stopped it had resumed: a new outage."""


def build_worker_app(
    settings: StreamsSettings,
    *,
    heartbeat: Heartbeat | None = None,
    readiness: Readiness | None = None,
) -> faust.App:
    """The Faust app with every processor of the worker attached.

    `readiness` gets one condition per processor, met while it runs, and `postgres`, unmet
    (with the reason) while a sink waits out a lost PostgreSQL; `heartbeat` beats from the
    app's event loop.
    """
    app = create_app(settings)
    ready = readiness or Readiness()
    ready.require(*settings.processors, "kafka")
    kafka_up = asyncio.Event()
    kafka_up.set()

    def kafka_changed(name: str, up: bool, reason: str) -> None:
        ready.set(name, up, reason)
        (kafka_up.set if up else kafka_up.clear)()

    kafka = Dependency("kafka", log=log, on_change=kafka_changed)

    async def watch_kafka() -> None:
        await _watch_kafka(settings.kafka, kafka, ready)

    app.task(watch_kafka)
    if heartbeat is not None:
        beat = heartbeat

        async def run_heartbeat() -> None:
            await beat.run()

        app.task(run_heartbeat)

    def run_processor(name: str, run: Callable[[], Awaitable[None]]) -> None:
        """An app task running `name`'s consumer, ready while it runs, resumed after outages."""

        async def processor() -> None:
            ready.set(name)
            try:
                await _resume_after_outages(name, run, kafka, kafka_up)
            finally:
                ready.set(name, False)

        app.task(processor)

    projections: ProjectionConsumer | None = None
    history: HistoryConsumer | None = None
    if "projections" in settings.processors:
        projections = ProjectionConsumer(settings)
        run_processor("projections", projections.run)
    if "history" in settings.processors:
        history = HistoryConsumer(
            settings,
            defer=_projections_behind(projections, settings.batch_size) if projections else None,
        )
        run_processor("history", history.run)
    sinks = [s.postgres for s in (projections, history) if s is not None]
    _postgres_readiness(ready, sinks)
    if sinks:
        dsn = settings.database_url.get_secret_value()

        async def watch_postgres() -> None:
            await _watch_postgres(dsn, sinks)

        app.task(watch_postgres)
    if "normalize" in settings.processors:
        register_normalize(
            app,
            settings,
            fetcher_factory=_marking(default_fetcher_factory(settings), ready),
            supervise=lambda run: _resume_after_outages("normalize", run, kafka, kafka_up),
        )
    return app


async def _resume_after_outages(
    name: str, run: Callable[[], Awaitable[None]], kafka: Dependency, kafka_up: asyncio.Event
) -> None:
    """Run the processor `run` until it returns. When an outage ends it (a produce Kafka never
    confirmed, a client that could not start, a lost PostgreSQL), say so in one line, wait
    with backoff until the broker answers and run it again: it resumes from its durable
    offsets, so the rerun repeats work and never skips it. Any other error propagates (a bug).
    Reruns that fail again soon are the same outage: logged at debug level."""
    backoff = Backoff()
    streak = False
    while True:
        started = time.monotonic()
        try:
            await run()
            return
        except Exception as exc:
            if not (kafka_outage(exc) or database_outage(exc)):
                raise
            if isinstance(exc, KafkaError):
                kafka.lost(exc)  # logged here only if the probe has not seen it yet
            fresh = not streak or time.monotonic() - started > _SETTLED_SECONDS
            if fresh:
                backoff.reset()
            streak = True
            log.log(logging.WARNING if fresh else logging.DEBUG,
                    "%s stopped by an outage (%s: %s); running it again with backoff",
                    name, type(exc).__name__, str(exc)[:200])  # fmt: skip
        await asyncio.sleep(backoff.next())
        await kafka_up.wait()


async def _watch_kafka(brokers: KafkaSettings, kafka: Dependency, ready: Readiness) -> None:
    """Probe the broker until cancelled: `kafka` on `/readyz` follows it, an outage is logged
    once when it goes and once when it is back."""
    client = AIOKafkaClient(**kafka_options(brokers, **kafka_client_options()))
    connected = False

    async def probe() -> None:
        nonlocal connected
        if not connected:
            await client.bootstrap()  # raises while the broker is away
            connected = True
        # The brokers only, no topics (raises when no known broker answers): the metadata of
        # every topic cost ~0.13 CPU-s per probe here on a broker holding ~3,900 topics.
        node = client.get_random_node()
        if node is None:
            raise KafkaConnectionError("no broker known")
        await client.send(node, MetadataRequest([]))
        ready.set("kafka")

    try:
        await watch(kafka, probe, every=_KAFKA_PROBE_SECONDS)
    finally:
        await client.close()


async def _watch_postgres(dsn: str, sinks: list[Dependency]) -> None:
    """Probe PostgreSQL every few seconds for the sinks until cancelled, so `postgres` on
    `/readyz` follows it also while they have nothing to write (each sink's dependency logs
    once when it goes and once when it is back, whoever noticed)."""
    backoff = Backoff()
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=_PROBE_TIMEOUT_SECONDS)
            await conn.close()
        except Exception as exc:  # any failure of the probe means "not reachable"; reason kept
            for sink in sinks:
                sink.lost(exc)
            await asyncio.sleep(backoff.next())
            continue
        backoff.reset()
        for sink in sinks:
            sink.restored()
        await asyncio.sleep(_POSTGRES_PROBE_SECONDS)


def _postgres_readiness(ready: Readiness, sinks: list[Dependency]) -> None:
    """`postgres` is met while every sink reaches PostgreSQL (the first one down says why)."""

    def changed(_name: str, _up: bool, _reason: str) -> None:
        down = [d for d in sinks if not d.up]
        ready.set("postgres", not down, down[0].reason if down else "")

    for dependency in sinks:
        dependency.on_change = changed
    if sinks:
        ready.set("postgres")


def _projections_behind(projections: ProjectionConsumer, batch: int) -> Callable[[], bool]:
    """Whether the projections are more than a batch behind (history waits for them)."""

    def behind() -> bool:
        consumer = projections.consumer
        return consumer is not None and sum(consumer.lag().values()) > batch

    return behind


def _marking(factory: FetcherFactory, ready: Readiness) -> FetcherFactory:
    """`factory`, with the `normalize` condition met while the fetcher it opened is in use."""

    @contextlib.asynccontextmanager
    async def open_fetcher() -> AsyncIterator[GhlFetcher]:
        async with factory() as fetcher:
            ready.set("normalize")
            try:
                yield fetcher
            finally:
                ready.set("normalize", False)

    return open_fetcher


def run_worker(
    settings: StreamsSettings,
    *,
    loglevel: str = "info",
    logging_config: dict[str, Any] | None = None,
) -> None:
    """Create the topics, then run the worker until it is stopped.

    `logging_config` (a dictConfig dict) replaces the colouring setup faust's worker installs.
    aiokafka's per-attempt connection errors are kept out of the log (`quiet_kafka_logs`); a
    lost PostgreSQL is logged once by each sink and waited out (`services.platform.outage`).
    """
    quiet_kafka_logs()
    heartbeat, readiness = Heartbeat(), Readiness()
    if settings.metrics_port:
        HealthServer(heartbeat=heartbeat, readiness=readiness).start(settings.metrics_port)
    readiness.require("kafka")
    # A worker started while the broker is away waits for it (503 on /readyz meanwhile).
    starting = Dependency("kafka", log=log, on_change=readiness.set)
    asyncio.run(
        starting.wait_for(
            lambda: ensure_topics(
                settings.kafka,
                topic_names(settings).all(),
                partitions=settings.topic_partitions,
            ),
            retry_on=kafka_outage,
        )
    )
    app = build_worker_app(settings, heartbeat=heartbeat, readiness=readiness)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, logging_config=logging_config)
    worker.execute_from_commandline()
