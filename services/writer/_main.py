"""Assembling and running the writer process, and what it supports."""

from __future__ import annotations

import asyncpg

from services.ghl import (
    GhlSettings,
    StaticTokenProvider,
    TokenProvider,
    build_client,
    build_rate_limiter,
    build_token_provider,
)
from services.status.health import serving_health
from services.writer._runtime import Writer
from services.writer.settings import WriterSettings

__all__ = ["SUPPORTED_OPERATIONS", "run_writer"]

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
    """Connect to PostgreSQL, Kafka and GHL and run the writer until cancelled."""
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=2,
        max_size=20,
        server_settings={"search_path": settings.database_schema},
    )
    try:
        tokens: TokenProvider
        if settings.location_tokens:
            tokens = StaticTokenProvider(settings.location_tokens)
        else:
            tokens = build_token_provider(ghl_settings, pool=pool)
        limiter = build_rate_limiter(ghl_settings, pool=pool)
        async with (
            serving_health(settings.metrics_port) as ready,
            build_client(ghl_settings, token_provider=tokens, rate_limiter=limiter) as c,
        ):
            ready.set("wired")
            await Writer(settings, client=c, pool=pool).run()
    finally:
        await pool.close()
