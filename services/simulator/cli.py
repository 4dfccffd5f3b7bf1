"""`ghl-sync simulator`: serve the GHL simulator with uvicorn.

`register(app)` adds the command to the `ghl-sync` Typer app. Options override the settings
read from `GHL_SYNC_SIMULATOR_*`; settings are built once here, at the entry point.
"""

from __future__ import annotations

from typing import Annotated

import typer

from services.platform.cli import HostOption, PortOption, serve, settings_with

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `simulator` command to `app`."""

    @app.command("simulator")
    def simulator(
        host: HostOption = None,
        port: PortOption = None,
        seed: Annotated[int | None, typer.Option(help="Seed of the data, ids and keys.")] = None,
        locations: Annotated[int | None, typer.Option(help="Locations to seed.")] = None,
        contacts: Annotated[int | None, typer.Option(help="Contacts seeded per location.")] = None,
        webhook_url: Annotated[
            list[str] | None, typer.Option(help="Webhook target URL (repeatable).")
        ] = None,
        activity_rate: Annotated[
            float | None, typer.Option(help="Activity generator steps per second (0: off).")
        ] = None,
    ) -> None:
        """Serve a GHL stand-in: the same API, OAuth, rate limits and signed webhooks."""
        from services.simulator.app import create_app
        from services.simulator.settings import SimulatorSettings

        settings = settings_with(
            SimulatorSettings,
            host=host,
            port=port,
            seed=seed,
            locations=locations,
            contacts_per_location=contacts,
            webhook_urls=tuple(webhook_url) if webhook_url else None,
            activity_rate=activity_rate,
        )
        app_ = create_app(settings)
        state = app_.state.simulator.state
        typer.echo(
            f"GHL simulator on http://{settings.host}:{settings.port} "
            f"({len(state.locations)} locations: {', '.join(state.locations)}); "
            f"admin at /_admin/state"
        )
        serve(app_, settings)
