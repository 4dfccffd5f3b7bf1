"""The `ghl-sync` command line.

Settings are read once here, at the entry point, and passed down; nothing below reads the
environment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.api.cli import register as register_api
from services.db.migrate import MigrationError
from services.demo.cli import register as register_demo
from services.ghl.cli import register as register_ghl
from services.poller.cli import register as register_poller
from services.simulator.cli import register as register_simulator
from services.stack import Stack, StackError, StackSettings
from services.status.cli import register as register_status
from services.webhooks.cli import register as register_webhooks
from services.writer.cli import register as register_writer
from streams.projections.cli import register as register_projections

__all__ = ["app", "main"]

app = typer.Typer(
    name="ghl-sync",
    help="Event-sourced two-way sync between GoHighLevel and your application.",
    no_args_is_help=True,
    add_completion=False,
)
stack_app = typer.Typer(
    help="The local Kafka broker and PostgreSQL server (no Docker).", no_args_is_help=True
)
schemas_app = typer.Typer(help="Event schemas for downstream consumers.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
register_simulator(app)
register_ghl(app)
register_webhooks(app)
register_poller(app)
register_demo(app)
register_status(app)
register_api(app)
register_writer(app)
register_projections(app)

_out = Console()
_err = Console(stderr=True)


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value else "-"


@stack_app.command("up")
def stack_up() -> None:
    """Start Kafka and PostgreSQL (fetching and installing what is missing), apply migrations."""
    stack = Stack(StackSettings())
    try:
        report = stack.up()
    except (StackError, MigrationError) as exc:
        _err.print(f"[red]stack up failed:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from exc
    parts = [
        f"Kafka {'started' if report.kafka_started else 'already running'}"
        + (" (jars downloaded)" if report.kafka_downloaded else ""),
        f"PostgreSQL {'started' if report.postgres_started else 'already running'}",
        f"migrations applied: {', '.join(report.migrations_applied) or 'none pending'}",
    ]
    _out.print("; ".join(parts))
    timings = ", ".join(f"{name} {secs:.1f}s" for name, secs in report.seconds.items())
    _out.print(f"timings: {timings}")
    _print_status(stack)


@stack_app.command("down")
def stack_down() -> None:
    """Stop the Kafka and PostgreSQL that `stack up` started (their data stays)."""
    kafka, postgres = Stack(StackSettings()).down()
    _out.print(
        f"Kafka {'stopped' if kafka else 'was not running'}; "
        f"PostgreSQL {'stopped' if postgres else 'was not running'}"
    )


@stack_app.command("status")
def stack_status() -> None:
    """Versions, ports, pids, memory and health of the local stack; exit 1 unless healthy."""
    if not _print_status(Stack(StackSettings())):
        raise typer.Exit(1)


@stack_app.command("smoke")
def stack_smoke() -> None:
    """Prove the running stack serves: a Kafka produce/consume and a PostgreSQL round trip."""
    from services.stack.smoke import run_smoke

    settings = StackSettings()
    try:
        lines = asyncio.run(run_smoke(settings.kafka_bootstrap, settings.database_url))
    except Exception as exc:  # the smoke check reports any failure as a failed check
        _err.print(f"smoke check failed: {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    for line in lines:
        _out.print(f"ok  {line}", highlight=False)


@app.command("migrate")
def migrate() -> None:
    """Apply pending database migrations to GHL_SYNC_DATABASE_URL."""
    import asyncpg

    from services.db.migrate import apply_migrations
    from services.db.settings import DatabaseSettings

    settings = DatabaseSettings()

    async def run() -> list[str]:
        conn = await asyncpg.connect(settings.url.get_secret_value(), timeout=30)
        try:
            return await apply_migrations(conn, schema=settings.schema_name)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    _out.print(f"migrations applied: {', '.join(applied) or 'none pending'}")


@app.command("worker")
def worker(
    loglevel: Annotated[str, typer.Option(help="Log level of the worker.")] = "info",
) -> None:
    """Run the stream processors: projections from ghl.events into PostgreSQL."""
    from streams.settings import StreamsSettings
    from streams.worker import run_worker

    run_worker(StreamsSettings(), loglevel=loglevel)


@app.command("settings")
def settings_command() -> None:
    """Print every setting of every service (environment variable, default, meaning)."""
    from services.settings_doc import render_settings_markdown

    sys.stdout.write(render_settings_markdown() + "\n")


def _print_status(stack: Stack) -> bool:
    status = stack.status()
    k, p = status.kafka, status.postgres
    rows = [
        (
            "kafka",
            k.version,
            k.bootstrap,
            k.pid,
            f"{_mib(k.rss_bytes)} (heap {k.heap})",
            k.healthy,
            k.detail,
        ),
        ("postgres", p.version, p.url, p.pid, _mib(p.rss_bytes), p.healthy, p.detail),
    ]
    for name, version, address, pid, memory, healthy, detail in rows:
        _out.print(
            f"{name:<9} {version:<10} {address:<44} pid {pid or '-':<8} mem {memory:<30} "
            f"{'ok' if healthy else 'DOWN'}: {detail}",
            highlight=False,
            soft_wrap=True,
        )
    return status.healthy


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path, typer.Argument(help="Folder to write the JSON Schemas into.")],
) -> None:
    """Write one JSON Schema per event type (and an index) into DIRECTORY."""
    from schemas.export import export_json_schemas

    written = export_json_schemas(directory)
    _out.print(f"wrote {len(written)} files to {directory}")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path, typer.Argument(help="Folder holding the exported schemas.")],
) -> None:
    """Exit 1 when the JSON Schemas in DIRECTORY differ from the code's."""
    from schemas.export import check_json_schemas

    stale = check_json_schemas(directory)
    if stale:
        _err.print(
            f"stale schemas in {directory}: {', '.join(stale)}; run "
            f"`ghl-sync schemas export {directory}`"
        )
        raise typer.Exit(1)
    _out.print("schemas are up to date")


def main() -> None:
    """Entry point of the `ghl-sync` console script."""
    sys.exit(app())
