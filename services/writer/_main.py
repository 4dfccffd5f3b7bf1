"""Assembling and running the writer process, and what it supports."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from services.ghl import (
    GhlClient,
    GhlSettings,
    StaticTokenProvider,
    TokenProvider,
    build_client,
    build_rate_limiter,
    build_token_provider,
)
from services.platform.health import Readiness, serving_health
from services.platform.outage import (
    Dependency,
    keep_running,
    probe_pool,
    quiet_kafka_logs,
)
from services.platform.pools import wait_for_pool
from services.writer._runtime import Writer
from services.writer.settings import WriterSettings

__all__ = ["SUPPORTED_OPERATIONS", "run_writer"]

_log = logging.getLogger("services.writer")

SUPPORTED_OPERATIONS: frozenset[str] = frozenset(
    {
        "create-contact", "update-contact", "upsert-contact", "delete-contact",
        "add-tags", "remove-tags", "add-followers-contact", "remove-followers-contact",
        "add-contact-to-campaign", "remove-contact-from-campaign",
        "remove-contact-from-every-campaign", "add-contact-to-workflow",
        "delete-contact-from-workflow", "add-remove-contact-from-business",
        "create-task", "update-task", "update-task-completed", "delete-task",
        "create-note", "update-note", "delete-note",
        "create-appointment", "edit-appointment", "delete-event",
    }
)  # fmt: skip
"""GHL write operations a command applies. `create-association` (bulk tags) has no command:
a command spans one contact so that ordering per contact holds; the tag commands cover it.
The writer also reads (`get-contact`, `get-duplicate-contact`, `get-all-tasks`,
`get-all-notes`, `get-appointments-for-contact`, `get-appointment`) for lookups after an
unknown outcome, conflict checks and snapshots."""


async def run_writer(settings: WriterSettings, *, ghl_settings: GhlSettings) -> None:
    """Connect to PostgreSQL, Kafka and GHL and run the writer until cancelled.

    Outage policy (`services.platform.outage`): a lost PostgreSQL or Kafka never ends the
    process. The writer stops reading, logs one line, waits with capped jittered backoff,
    answers `/readyz` 503 naming the dependency, and starts reading again from the offsets and
    command state in PostgreSQL once both answer (a command in flight is resumed from its
    state: applied at most once, published at least once).
    """
    quiet_kafka_logs()
    async with serving_health(settings.metrics_port) as ready:
        ready.require("postgres", "kafka")
        postgres = Dependency("postgres", log=_log, on_change=ready.set)
        kafka = Dependency("kafka", log=_log, on_change=ready.set)
        pool = await wait_for_pool(
            postgres, settings.database_url, schema=settings.database_schema, max_size=20
        )
        ready.set("postgres")
        try:
            tokens: TokenProvider
            if settings.location_tokens:
                tokens = StaticTokenProvider(settings.location_tokens)
            else:
                tokens = build_token_provider(ghl_settings, pool=pool)
            limiter = build_rate_limiter(ghl_settings, pool=pool)
            async with build_client(ghl_settings, token_provider=tokens, rate_limiter=limiter) as c:
                await _supervise(settings, client=c, pool=pool, ready=ready,
                                 postgres=postgres, kafka=kafka)  # fmt: skip
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), 10)


async def _supervise(
    settings: WriterSettings,
    *,
    client: GhlClient,
    pool: asyncpg.Pool,
    ready: Readiness,
    postgres: Dependency,
    kafka: Dependency,
) -> None:
    # One Writer per connected period: an outage ends it, the next one resumes from state.
    current: list[Writer] = []

    async def probe_postgres() -> None:
        await probe_pool(pool)

    async def probe_kafka() -> bool:
        return await current[-1].probe_kafka() if current else False

    def running() -> None:
        postgres.restored()
        kafka.restored()
        for name in ("postgres", "kafka", "wired"):
            ready.set(name)

    async def run() -> None:
        writer = Writer(settings, client=client, pool=pool, on_running=running)
        current[:] = [writer]
        try:
            await writer.run()
        finally:
            ready.set("wired", False)

    await keep_running(run, postgres=(postgres, probe_postgres), kafka=(kafka, probe_kafka))
