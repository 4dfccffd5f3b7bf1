"""`ghl-sync demo`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from services.platform.cli import settings_with

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `demo` to the main command line."""

    @app.command("demo")
    def demo(
        locations: Annotated[int | None, typer.Option(help="Simulated locations.")] = None,
        contacts: Annotated[int | None, typer.Option(help="Contacts per location.")] = None,
        activity_seconds: Annotated[
            float | None, typer.Option(help="Seconds of live activity.")
        ] = None,
        keep_running: Annotated[
            bool,
            typer.Option(
                help="Keep the services running afterwards, until Ctrl-C or SIGTERM stops "
                "them (as `ghl-sync run` does)."
            ),
        ] = False,
    ) -> None:
        """The main job: the stack, the simulator and every service; backfill, a minute of
        live activity with webhook faults, then a check that the projections equal the
        simulator's ground truth. Exits 0 only when everything converged."""
        from services.demo.run import print_report, run_demo
        from services.demo.settings import DemoSettings
        from services.stack import StackSettings

        settings = settings_with(
            DemoSettings, locations=locations, contacts=contacts, activity_seconds=activity_seconds
        )
        console = Console()
        report = asyncio.run(
            run_demo(settings, StackSettings(), keep_running=keep_running, console=console)
        )
        if report.stop_status is None:
            print_report(report, console)  # with --keep-running it was printed before the stop
        if not report.converged:
            raise typer.Exit(1)
        if report.stop_status:
            raise typer.Exit(report.stop_status)
