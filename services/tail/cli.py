"""`ghl-sync tail`; `register(app)` adds it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `tail` to the main command line."""

    @app.command("tail")
    def tail(
        event_type: Annotated[
            list[str] | None,
            typer.Option("--type", help="Only this event type (repeat for more)."),
        ] = None,
        location: Annotated[
            list[str] | None, typer.Option(help="Only this location (repeat for more).")
        ] = None,
        contact: Annotated[
            list[str] | None, typer.Option(help="Only this contact (repeat for more).")
        ] = None,
        from_beginning: Annotated[
            bool, typer.Option("--from-beginning", help="Start at the oldest event.")
        ] = False,
        stop_at_end: Annotated[
            bool,
            typer.Option("--stop-at-end", help="Exit once the events present at start are read."),
        ] = False,
        json_output: Annotated[
            bool, typer.Option("--json", help="One event per line as JSON (current schema).")
        ] = False,
    ) -> None:
        """Live events of ghl.events, decoded through the closed registry (old schema
        versions upcast), filtered by type, location and contact; text or JSON lines."""
        from schemas import EVENT_TYPES, EventDecodeError, encode_event
        from services.tail.reader import EventFilter, format_text, tail_events
        from streams.settings import StreamsSettings
        from streams.topics import topic_names

        unknown = sorted(set(event_type or ()) - set(EVENT_TYPES))
        if unknown:
            raise typer.BadParameter(
                f"unknown event type {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})",
                param_hint="--type",
            )
        settings = StreamsSettings()
        only = EventFilter(
            event_types=event_type or (), locations=location or (), contacts=contact or ()
        )

        async def run() -> None:
            async for record in tail_events(
                settings.kafka,
                topic_names(settings).events,
                from_beginning=from_beginning,
                only=only,
                stop_at_end=stop_at_end,
            ):
                if isinstance(record.event, EventDecodeError):
                    typer.echo(format_text(record), err=True)
                elif json_output:
                    typer.echo(encode_event(record.event).decode())
                else:
                    typer.echo(format_text(record))

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
