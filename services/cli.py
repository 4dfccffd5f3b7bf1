"""The `ghl-sync` command line.

Settings are read once here, at the entry point, and passed down; nothing below reads the
environment. Logging is configured here, once, before any command runs
(`services.platform.logs`).

Start-up stays fast (`ghl-sync --help` well under a second): a service's command module, and
the libraries it needs, are imported only when that command runs. `_COMMANDS` names each
lazily loaded command, the module whose `register(app)` adds it and the summary `--help`
shows; a unit test keeps the table equal to what the modules register.

Errors: `main()` turns common faults (a bad setting, Kafka or PostgreSQL down, a port in use,
a malformed key) into one line on stderr naming the variable to change, exit status 1;
`--debug` adds the traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer._click import Command, Context
from typer.core import TyperCommand, TyperGroup

from services.platform.cli import JsonOption

if TYPE_CHECKING:
    from services.stack import Stack

__all__ = ["COMMANDS", "app", "main"]

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("simulator", "services.simulator.cli", "Serve a GHL stand-in: the same API, OAuth"),
    ("catalog", "services.ghl.cli", "Every GHL action and trigger the sync touches"),
    ("auth", "services.ghl.cli", "Authorise the app on a location"),
    ("installs", "services.installs.cli", "Agency installs: apply INSTALL, UNINSTALL"),
    ("webhooks", "services.webhooks.cli", "Receive GHL webhooks: verify, drop replays"),
    ("poller", "services.poller.cli", "Poll every location: contacts by dateUpdated"),
    ("backfill", "services.poller.cli", "Every contact, note, appointment and task of a location"),
    ("demo", "services.demo.cli", "The main job: the stack, the simulator and every service"),
    ("run", "services.run.cli", "Run every service of a deployment (or the ones named)"),
    ("status", "services.status.cli", "Sync state per location"),
    ("api", "services.api.cli", "Serve the command API and the unified contact view"),
    ("api-docs", "services.api.cli", "Write (or check) `api/openapi.json`"),
    ("writer", "services.writer.cli", "Apply APPNAME's commands to GHL"),
    (
        "replay",
        "streams.projections.cli",
        "Rebuild every projection (the contact history included) from the start of ghl.events",
    ),
    ("history", "streams.history.cli", "A contact's changes and its tasks', notes'"),
    ("replay-history", "streams.history.cli", "Rebuild the contact history from the start of"),
    ("tail", "services.tail.cli", "Live events of ghl.events, decoded through the closed"),
    ("verify", "streams.projections.cli", "Compare the projections with a rebuild from the log"),
    ("lag", "streams.projections.cli", "Events in ghl.events not yet in the projection tables"),
)
"""(command, module whose `register(app)` adds it, the start of its help) of lazy commands."""


_HELP_ONLY = "ghl_sync.help_only"
"""`Context.meta` key: the command line asks for a command's --help."""


class _LazyGroup(TyperGroup):
    """The root group: lists lazy commands by their summary, loads one when it runs."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._loaded: dict[str, dict[str, Command]] = {}
        for name, module, summary in COMMANDS:
            if name not in self.commands:
                self.commands[name] = _Stub(name=name, help=summary, module=module)

    def _load(self, module: str) -> dict[str, Command]:
        if module not in self._loaded:
            holder = typer.Typer()
            importlib.import_module(module).register(holder)
            self._loaded[module] = dict(typer.main.get_group(holder).commands)
        return self._loaded[module]

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        # Noted before the root callback runs: a command's --help needs no logging set up
        # (that would import pydantic-settings, a third of the one-second budget).
        ctx.meta[_HELP_ONLY] = not set(ctx.help_option_names).isdisjoint(args)
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Stub) and name is not None:
            command = self._load(command.module)[name]
        return name, command, rest

    def loaded(self, name: str) -> Command:
        """The real command behind `name` (imports its module)."""
        command = self.commands[name]
        if isinstance(command, _Stub):
            return self._load(command.module)[name]
        return command


class _Stub(TyperCommand):
    """A lazy command's entry in `--help`; never invoked (resolve_command swaps it)."""

    def __init__(self, *, name: str, help: str, module: str) -> None:
        super().__init__(name=name, help=help)
        self.module = module


app = typer.Typer(
    name="ghl-sync",
    cls=_LazyGroup,
    help="Event-sourced two-way sync between GoHighLevel and your application.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(
    help="The local Kafka broker and PostgreSQL server (no Docker).", no_args_is_help=True
)
schemas_app = typer.Typer(help="Event schemas for downstream consumers.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"ghl-sync {version('ghl-sync')}")
        raise typer.Exit()


_SERVICES = frozenset(
    {"worker", "webhooks", "poller", "api", "writer", "installs", "simulator", "demo", "run"}
)
"""Long-running commands: they log their own outages (services/platform/outage.py)."""


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Event-sourced two-way sync between GoHighLevel and your application."""
    if ctx.meta.get(_HELP_ONLY):
        return
    from services.platform.logs import LogSettings, configure_logging

    configure_logging(LogSettings())
    if ctx.invoked_subcommand not in _SERVICES:
        from services.platform.outage import quiet_kafka_logs

        # A one-shot command reports a lost broker in its one error line.
        quiet_kafka_logs()


def _out() -> Console:
    from services.platform.terminal import output_console

    return output_console()


def _err() -> Console:
    from services.platform.terminal import output_console

    return output_console(stderr=True)


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value else "-"


def _json_out(value: object) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@stack_app.command("up")
def stack_up(as_json: JsonOption = False) -> None:
    """Start Kafka and PostgreSQL (fetching and installing what is missing), apply migrations."""
    from services.db.migrate import MigrationError
    from services.stack import Stack, StackError, StackSettings

    stack = Stack(StackSettings())
    try:
        report = stack.up()
    except (StackError, MigrationError) as exc:
        _err().print(f"[red]stack up failed:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from exc
    if as_json:
        import dataclasses

        _json_out(dataclasses.asdict(report))
        return
    parts = [
        f"Kafka {'started' if report.kafka_started else 'already running'}"
        + (" (jars downloaded)" if report.kafka_downloaded else ""),
        f"PostgreSQL {'started' if report.postgres_started else 'already running'}",
        f"migrations applied: {', '.join(report.migrations_applied) or 'none pending'}",
    ]
    _out().print("; ".join(parts))
    timings = ", ".join(f"{name} {secs:.1f}s" for name, secs in report.seconds.items())
    _out().print(f"timings: {timings}")
    _print_status(stack)


@stack_app.command("down")
def stack_down() -> None:
    """Stop the Kafka and PostgreSQL that `stack up` started (their data stays)."""
    from services.stack import Stack, StackSettings

    kafka, postgres = Stack(StackSettings()).down()
    _out().print(
        f"Kafka {'stopped' if kafka else 'was not running'}; "
        f"PostgreSQL {'stopped' if postgres else 'was not running'}"
    )


@stack_app.command("status")
def stack_status(as_json: JsonOption = False) -> None:
    """Versions, ports, pids, memory and health of the local stack; exit 1 unless healthy."""
    from services.stack import Stack, StackSettings

    stack = Stack(StackSettings())
    if as_json:
        import dataclasses

        status = stack.status()
        _json_out(
            {
                "healthy": status.healthy,
                "kafka": dataclasses.asdict(status.kafka),
                "postgres": dataclasses.asdict(status.postgres),
            }
        )
        healthy = status.healthy
    else:
        healthy = _print_status(stack)
    if not healthy:
        raise typer.Exit(1)


@stack_app.command("smoke")
def stack_smoke(as_json: JsonOption = False) -> None:
    """Prove the running stack serves: a Kafka produce/consume and a PostgreSQL round trip."""
    import asyncio

    from services.stack import StackSettings
    from services.stack.smoke import run_smoke

    settings = StackSettings()
    try:
        lines = asyncio.run(run_smoke(settings.kafka_bootstrap, settings.database_url))
    except Exception as exc:  # the smoke check reports any failure as a failed check
        _err().print(f"smoke check failed: {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    if as_json:
        _json_out({"ok": lines})
        return
    for line in lines:
        _out().print(f"ok  {line}", highlight=False)


@app.command("migrate")
def migrate(as_json: JsonOption = False) -> None:
    """Apply pending database migrations to GHL_SYNC_DATABASE_URL."""
    import asyncio

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
    if as_json:
        _json_out({"applied": applied})
        return
    _out().print(f"migrations applied: {', '.join(applied) or 'none pending'}")


@app.command("worker")
def worker(
    loglevel: Annotated[
        str | None, typer.Option(help="Log level of the worker (default: GHL_SYNC_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run the stream processors: projections from ghl.events into PostgreSQL."""
    from services.platform.logs import LogSettings, worker_logging_config
    from streams.settings import StreamsSettings
    from streams.worker import run_worker

    logs = LogSettings(level=loglevel.upper()) if loglevel else LogSettings()
    settings = StreamsSettings()
    if "normalize" in settings.processors:
        from services.ghl import GhlSettings, check_token_settings

        # Normalize reads GHL with the stored tokens: a bad key is one line now, not a
        # processor's traceback once the worker is up.
        check_token_settings(GhlSettings())
    run_worker(
        settings,
        loglevel=logs.level.lower(),
        logging_config=worker_logging_config(logs),
    )


@app.command("settings")
def settings_command(
    doc: Annotated[
        bool,
        typer.Option("--doc", help="Print the settings page (docs/settings.md) instead."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The value in effect of every setting of every service, secrets masked.

    Exit 1 when one is invalid. `--doc` prints the settings page (variable, default, meaning)
    instead.
    """
    from services.settings_doc import render_settings_markdown, settings_in_effect

    if doc:
        sys.stdout.write(render_settings_markdown() + "\n")
        return
    values = settings_in_effect()
    if as_json:
        _json_out([value.to_json() for value in values])
    elif not sys.stdout.isatty():
        # Piped: one tab-separated line per setting, for grep and cut.
        sys.stdout.writelines(f"{v.env}\t{v.shown}\t{v.source}\n" for v in values)
    else:
        from rich.table import Table

        table = Table("variable", "value in effect", "source", box=None, pad_edge=False)
        for value in values:
            table.add_row(
                value.env,
                value.shown,
                value.source,
                style="dim" if value.source == "default" else None,
            )
        Console().print(table)
    bad = [value for value in values if value.source == "invalid"]
    for value in bad:
        _err().print(f"error: bad setting {value.env}: {value.shown}", highlight=False)
    if bad:
        raise typer.Exit(1)


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
        _out().print(
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
    _out().print(f"wrote {len(written)} files to {directory}")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path, typer.Argument(help="Folder holding the exported schemas.")],
) -> None:
    """Exit 1 when the JSON Schemas in DIRECTORY differ from the code's."""
    from schemas.export import check_json_schemas

    stale = check_json_schemas(directory)
    if stale:
        _err().print(
            f"stale schemas in {directory}: {', '.join(stale)}; run "
            f"`ghl-sync schemas export {directory}`"
        )
        raise typer.Exit(1)
    _out().print("schemas are up to date")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `ghl-sync` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="ghl-sync")
    except SystemExit as exc:
        # uvicorn reports a port it cannot bind by logging it and calling sys.exit: the
        # OSError is the exit's context.
        if exc.code in (0, None) or not isinstance(exc.__context__, OSError):
            raise
        _fail(exc, debug="--debug" in args, reraise=exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        _fail(exc, debug="--debug" in args, reraise=exc)


def _fail(exc: BaseException, *, debug: bool, reraise: BaseException) -> None:
    from services.platform.diagnose import explain

    line = explain(exc)
    if line is None:
        raise reraise
    if debug:
        import traceback

        traceback.print_exception(exc)
    sys.stderr.write(f"error: {line}\n")
    sys.exit(1)
