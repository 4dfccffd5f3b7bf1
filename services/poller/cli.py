"""`ghl-sync poller` and `ghl-sync backfill --location ID`; `register(app)` adds them.

Settings are read here, at the entry point, and passed down.

A Private Integration Token (`GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN`) with no
`GHL_SYNC_POLLER_LOCATIONS`: the poller asks GHL which location the token sees
(`GET /locations/search`, scope `locations.readonly`) and polls that one; when the answer is
not exactly one location, or GHL refuses the call, it exits with one line naming the variable
to set (`services/poller/_pit.py` says why that call, and what is UNCONFIRMED about it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import asyncpg

    from services.ghl import GhlClient, GhlSettings
    from services.platform.outage import Dependency
    from services.poller._sink import EventSink
    from services.poller.settings import PollerSettings

__all__ = ["register"]

_log = logging.getLogger("services.poller")


@dataclass(frozen=True)
class _Wired:
    settings: PollerSettings
    ghl: GhlSettings
    pool: asyncpg.Pool
    client: GhlClient
    sink: EventSink


@contextlib.asynccontextmanager
async def _wiring(
    postgres: Dependency | None = None, kafka: Dependency | None = None
) -> AsyncIterator[_Wired]:
    """Pool, sink and client; with `postgres` / `kafka` given, waits for each to answer
    (the outage policy) instead of failing at once."""
    from services.ghl import GhlSettings, build_client, build_rate_limiter, build_token_provider
    from services.platform.outage import database_outage, kafka_outage
    from services.platform.pools import open_pool
    from services.poller._sink import EventSink
    from services.poller._store import reset_if_dirty
    from services.poller.settings import PollerSettings

    settings, ghl = PollerSettings(), GhlSettings()

    def connect() -> Awaitable[asyncpg.Pool]:
        return open_pool(
            settings.database_url, schema=settings.database_schema, max_size=8, reset=reset_if_dirty
        )

    if postgres is None:
        pool = await connect()
    else:
        pool = await postgres.wait_for(connect, retry_on=database_outage)
    sink = EventSink(
        settings.kafka,
        settings.events_topic,
        partitions=settings.topic_partitions,
    )
    if kafka is None:
        await sink.start()
    else:
        await kafka.wait_for(sink.start, retry_on=kafka_outage)
    client = build_client(
        ghl,
        token_provider=build_token_provider(ghl, pool=pool),
        rate_limiter=build_rate_limiter(ghl, pool=pool),
    )
    try:
        async with client:
            yield _Wired(settings, ghl, pool, client, sink)
    finally:
        await sink.stop()
        await pool.close()


def register(app: typer.Typer) -> None:
    """Add `poller` and `backfill` to the main command line."""

    @app.command("poller")
    def poller(
        metrics_port: Annotated[
            int | None,
            typer.Option(
                help="Port of /metrics, /livez and /readyz (0: off); overrides "
                "GHL_SYNC_POLLER_METRICS_PORT (default 9102).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Poll every location: contacts by dateUpdated, task sweeps, notes, appointments,
        deletion reconciliation; events go straight to ghl.events."""
        from services.customfields import DefinitionSync
        from services.ghl import GhlSettings
        from services.platform.health import serving_health
        from services.platform.outage import Dependency, keep_running, quiet_kafka_logs
        from services.poller._pit import PitLocationUnknown, discover_pit_location
        from services.poller._store import PollerStore
        from services.poller.poller import Poller
        from services.poller.settings import PollerSettings

        settings, ghl = PollerSettings(), GhlSettings()
        if ghl.private_integration_token is not None and not settings.locations:
            try:
                found = asyncio.run(discover_pit_location(ghl))
            except PitLocationUnknown as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            settings = settings.model_copy(update={"locations": (found,)})
            _log.info("polling location %s, the one the Private Integration Token sees", found)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

        async def main() -> None:
            # Outage policy (`services.platform.outage`): a lost PostgreSQL or Kafka ends the
            # instance's run (its locations stop polling: their leases cannot be renewed), is
            # logged once, waited out with backoff (/readyz 503 meanwhile) and a new run resumes.
            quiet_kafka_logs()
            port = settings.metrics_port if metrics_port is None else metrics_port
            async with serving_health(port) as ready:
                ready.require("postgres", "kafka")
                postgres = Dependency("postgres", log=_log, on_change=ready.set)
                kafka = Dependency("kafka", log=_log, on_change=ready.set)
                async with _wiring(postgres, kafka) as w:
                    for name in ("postgres", "kafka", "wired"):
                        ready.set(name)
                    poller = Poller(
                        w.client,
                        PollerStore(w.pool),
                        w.sink,
                        settings,
                        pool=w.pool,
                        definitions=DefinitionSync(w.pool, w.client.list_custom_fields),
                    )

                    async def probe_postgres() -> None:
                        await w.pool.fetchval("SELECT 1")

                    await keep_running(
                        poller.run_forever,
                        postgres=(postgres, probe_postgres),
                        kafka=(kafka, w.sink.probe),
                    )

        asyncio.run(main())

    @app.command("backfill")
    def backfill(
        location: Annotated[str, typer.Option("--location", help="GHL location id.")],
        restart: Annotated[bool, typer.Option(help="Forget saved progress first.")] = False,
    ) -> None:
        """Every contact, note, appointment and task of a location into ghl.events;
        resumable (progress in PostgreSQL), with an ETA from the location's request budget."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from services.customfields import DefinitionSync
        from services.ghl import RequestClass, charged_to
        from services.poller.backfill import Backfill, BackfillProgress

        async def main() -> None:
            async with _wiring() as w:
                # Onboarding reads the location's custom field definitions first.
                with charged_to(RequestClass.DEFINITIONS):
                    await DefinitionSync(w.pool, w.client.list_custom_fields).sync(
                        location, reason="onboarding"
                    )
                job = Backfill(
                    w.client, w.pool, w.sink, location,
                    appointments_past_days=w.settings.appointments_past_days,
                    appointments_future_days=w.settings.appointments_future_days,
                )  # fmt: skip
                if restart:
                    await job.restart()
                rate = w.ghl.rate_limit_requests / w.ghl.rate_limit_interval
                with Progress(
                    TextColumn("[bold]{task.fields[phase]}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("contacts, ETA {task.fields[eta]} at the request budget"),
                ) as bar:
                    task = bar.add_task("backfill", total=None, phase="contacts", eta="?")

                    def report(p: BackfillProgress, *, requests_left: int) -> None:
                        seconds = int(requests_left / rate)
                        bar.update(
                            task,
                            completed=p.contacts_done,
                            total=p.contacts_total,
                            phase=p.phase,
                            eta=f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                        )

                    done = await job.run(report)
                typer.echo(f"backfill {done.phase}: {done.contacts_done} contacts, "
                           f"{done.tasks_done} tasks")  # fmt: skip

        asyncio.run(main())
