"""`ghl-sync writer`: run the write-back service. `register(app)` adds the command."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["main", "register"]


def main(conflict_policy: str | None = None) -> None:
    """Build the settings once, configure logging, run until interrupted."""
    import asyncio
    import contextlib
    import logging

    from services.ghl import GhlSettings
    from services.platform.cli import settings_with
    from services.writer._main import run_writer
    from services.writer.settings import WriterSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_with(WriterSettings, conflict_policy=conflict_policy or None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_writer(settings, ghl_settings=GhlSettings()))


def register(app: typer.Typer) -> None:
    """Add the `writer` command to `app`."""

    @app.command("writer")
    def writer(
        conflict_policy: Annotated[
            str | None, typer.Option(help="reject, merge or force (overrides the setting).")
        ] = None,
    ) -> None:
        """Apply APPNAME's commands to GHL, exactly once, in order per contact."""
        main(conflict_policy)
