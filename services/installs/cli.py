"""`ghl-sync installs`: the install handler and the reconciler; `register(app)` adds it.

Settings are read here, at the entry point, and passed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Annotated

import typer

__all__ = ["register"]

_log = logging.getLogger("services.installs")


def installs(
    once: Annotated[
        bool, typer.Option("--once", help="Reconcile every company once and exit.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Port of /metrics, /livez and /readyz (0: off); overrides "
            "GHL_SYNC_INSTALLS_METRICS_PORT (default 9104).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Agency installs: apply INSTALL, UNINSTALL and LocationCreate webhooks from ghl.raw.v1,
    onboard new locations (token minted from the company token; the poller backfills and polls
    them), stop uninstalled ones, and reconcile every company's installedLocations
    periodically (webhooks can be missed)."""
    from aiokafka import AIOKafkaProducer

    from schemas import Event, encode_event
    from services.db.settings import DatabaseSettings
    from services.ghl import GhlSettings
    from services.installs.handler import InstallHandler
    from services.installs.settings import InstallSettings
    from services.installs.wiring import build_agency
    from services.platform.connections import kafka_options
    from services.platform.health import serving_health
    from services.platform.pools import open_pool
    from streams.settings import StreamsSettings
    from streams.topics import topic_names

    ghl, settings, database, streams = (
        GhlSettings(),
        InstallSettings(),
        DatabaseSettings(),
        StreamsSettings(),
    )
    topics = topic_names(streams)

    async def main() -> None:
        pool = await open_pool(
            database.url,
            schema=database.schema_name,
            min_size=1,
            max_size=max(8, settings.onboard_concurrency + 4),
        )
        producer = AIOKafkaProducer(
            **kafka_options(streams.kafka), acks="all", enable_idempotence=True
        )

        async def emit(events: Sequence[Event]) -> int:
            sent = [
                await producer.send(topics.events, value=encode_event(e), key=e.key.encode())
                for e in events
            ]
            await asyncio.gather(*sent)
            return len(sent)

        agency = build_agency(
            ghl,
            settings,
            pool=pool,
            emit=emit if settings.on_uninstall == "tombstone" else None,
        )
        try:
            if settings.on_uninstall == "tombstone":
                await producer.start()
            if once:
                for found in await agency.reconcile():
                    typer.echo(
                        f"company {found.company_id}: {found.listed} installed, "
                        f"{found.onboarded} onboarded, {found.uninstalled} uninstalled, "
                        f"{found.failed} not onboarded yet"
                    )
                return
            handler = InstallHandler(
                agency,
                bootstrap=streams.kafka,
                topic=topics.raw,
                group_id=settings.consumer_group or f"{streams.app_id}-installs",
            )
            port = settings.metrics_port if metrics_port is None else metrics_port
            async with serving_health(port) as ready:
                ready.set("wired")
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(handler.run())
                    tasks.create_task(agency.run_reconciler())
        finally:
            await agency.aclose()
            with contextlib.suppress(Exception):
                await producer.stop()
            await pool.close()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    """Add `installs` to the `ghl-sync` command line."""
    app.command("installs")(installs)
