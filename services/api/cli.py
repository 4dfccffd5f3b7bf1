"""`ghl-sync api` (serve) and `ghl-sync api-docs` (write the OpenAPI document and command
schemas). `register(app)` adds both commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.platform.cli import HostOption, PortOption, serve, settings_with

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `api` and `api-docs` commands to `app`."""

    @app.command("api")
    def api(
        host: HostOption = None,
        port: PortOption = None,
        workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    ) -> None:
        """Serve the command API and the unified contact view."""
        import uvicorn

        from services.api.settings import ApiSettings
        from services.platform.outage import quiet_kafka_logs

        quiet_kafka_logs()

        settings = settings_with(ApiSettings, host=host, port=port, workers=workers)
        if not settings.api_keys:
            typer.echo("warning: GHL_SYNC_API_API_KEYS is empty; every call will be 401", err=True)
        if settings.workers > 1:
            # Each worker builds its app (and reads its settings) in its own process.
            uvicorn.run(
                "services.api._factory:app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                log_level="warning",
            )
            return
        from services.api.app import create_app

        serve(create_app(settings), settings)

    @app.command("api-docs")
    def api_docs(
        root: Annotated[Path, typer.Argument(help="Folder of the schemas.")] = Path("docs/schemas"),
        check: Annotated[bool, typer.Option(help="Only verify; exit 1 when stale.")] = False,
    ) -> None:
        """Write (or check) `api/openapi.json` and `commands/*.json` under ROOT."""
        from services.api.openapi import check_docs, write_docs

        if check:
            stale = check_docs(root)
            if stale:
                typer.echo(f"stale: {', '.join(stale)}; run `ghl-sync api-docs`", err=True)
                raise typer.Exit(1)
            typer.echo("API docs are up to date")
            return
        typer.echo(f"wrote {len(write_docs(root))} files under {root}")
