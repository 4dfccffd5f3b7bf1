"""`ghl-sync run [SERVICE...]`: every service of a deployment under one supervisor.

Each service is its own `ghl-sync <command>` child process (`services.platform.supervise`):
restarted with backoff when it exits unexpectedly, its output merged into this process's
stdout with each line prefixed by the service's name (with `GHL_SYNC_LOG_FORMAT=json`, JSON
lines carrying a `service` field instead), stopped by Ctrl-C or SIGTERM (SIGTERM
to each child, SIGKILL after `--grace` seconds). Every child reads the same environment, so
one set of `GHL_SYNC_*` variables configures the whole deployment; each service listens on
its own port by default (receiver 8710, API 8720, worker 9101, poller 9102, writer 9103,
installs 9104), each with `/livez` and `/readyz`.

A second Ctrl-C (or SIGTERM) during the stop kills what is left at once. Exit status: 0
stopped on request, every service exited within the grace period; 1 a service
kept failing (it exited `--give-up-after` times in a row, each within 30 s of its start: read
its last lines above); 3 stopped on request, but a service had to be killed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

__all__ = ["DEFAULT_SERVICES", "SERVICES", "log_line", "register"]

SERVICES: dict[str, tuple[str, ...]] = {
    "webhooks": ("webhooks",),
    "api": ("api",),
    "writer": ("writer",),
    "poller": ("poller",),
    "worker": ("worker",),
    "installs": ("installs",),
}
"""Service name -> its `ghl-sync` command line."""

ALIASES = {"receiver": "webhooks"}

DEFAULT_SERVICES = ("webhooks", "api", "writer", "poller", "worker")
"""What `ghl-sync run` starts without arguments. `installs` (agency installs: INSTALL and
UNINSTALL webhooks, installedLocations reconciliation) is for agency-level apps: name it."""


def log_line(service: str, line: str, *, json_lines: bool, width: int) -> str:
    """One line of the merged stream. Text: `service | line`, names padded to `width`.
    JSON (`GHL_SYNC_LOG_FORMAT=json`): every line a JSON object with a `service` field, the
    child's own JSON record kept whole, anything else (a traceback's lines, a library's
    print) wrapped as its `message`, so a log shipper reads one format."""
    if not json_lines:
        return f"{service:<{width}} | {line}"
    record: Any = None
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
    if not isinstance(record, dict):
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "services.run" if service == "supervisor" else "stdout",
            "message": line,
        }
    return json.dumps({"service": service, **record}, ensure_ascii=False)


def _chosen(names: list[str]) -> list[str]:
    chosen: list[str] = []
    for raw in names or DEFAULT_SERVICES:
        name = ALIASES.get(raw, raw)
        if name not in SERVICES:
            known = ", ".join([*SERVICES, *ALIASES])
            raise typer.BadParameter(f"unknown service {raw!r}; known: {known}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def register(app: typer.Typer) -> None:
    """Add `run` to the main command line."""

    @app.command("run")
    def run(
        services: Annotated[
            list[str] | None,
            typer.Argument(
                help="Services to run (default: webhooks api writer poller worker; "
                "also: installs; `receiver` is webhooks).",
                metavar="SERVICE...",
                show_default=False,
            ),
        ] = None,
        grace: Annotated[
            float, typer.Option(min=0, help="Seconds between SIGTERM and SIGKILL on a stop.")
        ] = 10.0,
        give_up_after: Annotated[
            int,
            typer.Option(
                min=1, help="Quick exits in a row (each within 30 s of its start) before giving up."
            ),
        ] = 5,
    ) -> None:
        """Run every service of a deployment (or the ones named) as supervised child
        processes: restarted with backoff when one exits, one log stream (each line prefixed
        with the service's name), stopped cleanly by Ctrl-C or SIGTERM."""
        import asyncio
        import os
        import signal
        import sys

        from services.platform.logs import LogSettings
        from services.platform.supervise import Child, Supervisor, ghl_sync_command

        names = _chosen(list(services or ()))
        width = max(len(n) for n in [*names, "supervisor"])
        json_lines = LogSettings().format == "json"

        stop_on_lost_output: list[Supervisor] = []

        def sink(name: str, line: str) -> None:
            try:
                sys.stdout.write(log_line(name, line, json_lines=json_lines, width=width) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                # Whatever read the log stream is gone (`| head`): stop rather than run blind.
                for supervisor in stop_on_lost_output:
                    supervisor.request_stop("the output stream was closed")

        # The entry point hands its environment down; unbuffered, so lines arrive as written.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        children = [Child(n, ghl_sync_command(*SERVICES[n]), env) for n in names]

        async def main() -> int:
            supervisor = Supervisor(children, sink=sink, grace_seconds=grace,
                                    give_up_after=give_up_after)  # fmt: skip
            stop_on_lost_output.append(supervisor)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, supervisor.request_stop, sig.name)
            await supervisor.start()
            sink("supervisor", f"started {', '.join(names)}; Ctrl-C or SIGTERM stops them")
            outcome = await supervisor.wait()
            if outcome.failed is not None:
                sink("supervisor", f"gave up: {outcome.reason}")
            elif outcome.killed:
                sink(
                    "supervisor", f"stopped ({outcome.reason}); killed {', '.join(outcome.killed)}"
                )
            else:
                sink("supervisor", f"stopped ({outcome.reason}): every service exited")
            return outcome.exit_code

        code = asyncio.run(main())
        if code:
            raise typer.Exit(code)
