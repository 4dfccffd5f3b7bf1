"""`ghl-sync history CONTACT_ID`: a contact's changes in the terminal (or as JSON)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.platform.cli import JsonOption

if TYPE_CHECKING:
    from streams.history.store import HistoryFilter

__all__ = ["register", "render_text"]


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def render_text(entries: list[dict[str, Any]]) -> str:
    """Entries as lines: time, entity, action, source and event, then one line per change."""
    lines: list[str] = []
    for e in entries:
        lines.append(
            f"{e['at']}  {e['entity_type']} {e['entity_id']}  {e['action']}"
            f"  (source {e['source']}, observed {e['observed_at']}, event {e['event_id']})"
        )
        lines.extend(
            f"    {c['field']}: {_value(c['old'])} → {_value(c['new'])}" for c in e["changes"]
        )
    return "\n".join(lines)


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option}: {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"{option}: {value!r} needs a time zone (e.g. Z)")
    return when


def register(app: typer.Typer) -> None:
    """Add `history` and `replay-history` to the main command line."""
    register_replay(app)

    @app.command("history")
    def history(
        contact_id: Annotated[str, typer.Argument(help="The GHL contact id.")],
        location_id: Annotated[
            str | None, typer.Option("--location", help="The contact's location.")
        ] = None,
        since: Annotated[
            str | None, typer.Option(help="From this time (ISO 8601 with zone).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Before this time.")] = None,
        entity: Annotated[
            list[str] | None,
            typer.Option(help="Only these entity types: contact, task, note, appointment."),
        ] = None,
        field: Annotated[
            list[str] | None, typer.Option(help="Only entries changing this field.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, help="Most entries to print.")] = 1000,
        json_output: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    ) -> None:
        """A contact's changes and its tasks', notes', appointments' and tags', oldest first,
        field by field, with GHL's time, ours, the source and the event id."""
        from services.db.settings import DatabaseSettings

        where: HistoryFilter = {
            "location_id": location_id,
            "since": _time("--since", since),
            "until": _time("--until", until),
            "entity_types": entity or [],
            "fields": field or [],
        }
        entries, loc = asyncio.run(_read(DatabaseSettings(), contact_id, where, limit))
        if json_output:
            typer.echo(json.dumps({"location_id": loc, "entries": entries}, indent=2))
            return
        if loc is None:
            typer.echo(f"no history of a contact with id {contact_id!r}", err=True)
            raise typer.Exit(1)
        typer.echo(render_text(entries) if entries else "no entries match")


async def _read(
    settings: Any, contact_id: str, where: HistoryFilter, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    import asyncpg

    from streams.history.store import entry_json, read_history

    conn = await asyncpg.connect(
        settings.url.get_secret_value(), server_settings={"search_path": settings.schema_name}
    )
    try:
        out: list[dict[str, Any]] = []
        cursor, loc = None, None
        while len(out) < limit:
            page = await read_history(
                conn, contact_id, limit=min(limit - len(out), 500), cursor=cursor, **where
            )
            loc = page.location_id
            out.extend(entry_json(e) for e in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        return out, loc
    finally:
        await conn.close()


def register_replay(app: typer.Typer) -> None:
    """Add `replay-history` to the main command line."""

    @app.command("replay-history")
    def replay_history(
        json_output: JsonOption = False,
    ) -> None:
        """Rebuild the contact history from the start of ghl.events and swap it in."""
        from streams.history.replay import rebuild_history
        from streams.settings import StreamsSettings

        report = asyncio.run(rebuild_history(StreamsSettings(), swap=True))
        if json_output:
            typer.echo(
                json.dumps(
                    {"events": report.events, "seconds": report.seconds, "offsets": report.offsets}
                )
            )
        else:
            typer.echo(f"history rebuilt from {report.events} events in {report.seconds:.1f} s")
