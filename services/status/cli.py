"""`ghl-sync status`; `register(app)` adds it. Settings are built here, once."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from services.platform.cli import JsonOption

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `status` to the main command line."""

    @app.command("status")
    def status(
        json_output: JsonOption = False,
        webhook_scan: Annotated[
            int,
            typer.Option(
                help="Records read from the end of each ghl.raw partition to find each "
                "location's last webhook."
            ),
        ] = 500,
    ) -> None:
        """Sync state per location (cursors, last poll and webhook, backfill, token expiry,
        budget left), consumer lag per partition, dead letters, table and command counts."""
        import asyncpg
        from aiokafka.errors import KafkaError
        from rich.console import Console

        from services.db.settings import DatabaseSettings
        from services.ghl.settings import GhlSettings
        from services.poller.settings import PollerSettings
        from services.status.collect import StatusSources, collect_status
        from services.status.render import render_json, render_tables
        from streams.settings import StreamsSettings

        sources = StatusSources(
            streams=StreamsSettings(),
            database=DatabaseSettings(),
            ghl=GhlSettings(),
            poller=PollerSettings(),
            webhook_scan_per_partition=webhook_scan,
        )
        try:
            report = asyncio.run(collect_status(sources))
        except (OSError, TimeoutError, KafkaError, asyncpg.PostgresError) as exc:
            # Unreachable servers, or a database without the migrations (`ghl-sync migrate`).
            from services.platform.diagnose import explain

            if explain(exc) is not None:
                raise  # the command line prints it as one line naming the variable
            Console(stderr=True).print(
                f"[red]status failed:[/red] {type(exc).__name__}: {exc}", highlight=False
            )
            raise typer.Exit(1) from exc
        if json_output:
            sys.stdout.write(render_json(report) + "\n")
        else:
            from services.platform.terminal import output_console

            render_tables(report, output_console())  # never cut at 80 columns when piped
