"""The command line lists its subcommands and documents them."""

from __future__ import annotations

from typer.testing import CliRunner

from services.cli import app


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("stack", "schemas", "migrate"):
        assert command in result.output


def test_stack_help_lists_up_down_status() -> None:
    result = CliRunner().invoke(app, ["stack", "--help"])
    assert result.exit_code == 0
    for command in ("up", "down", "status", "smoke"):
        assert command in result.output


def test_the_lazy_command_table_matches_what_the_modules_register() -> None:
    import importlib

    import typer
    import typer.main

    from services.cli import COMMANDS

    modules = {module for _, module, _ in COMMANDS}
    registered: dict[str, tuple[str, str]] = {}
    for module in sorted(modules):
        holder = typer.Typer()
        importlib.import_module(module).register(holder)
        for name, command in typer.main.get_group(holder).commands.items():
            registered[name] = (module, " ".join((command.help or "").split()))
    assert {name for name, _, _ in COMMANDS} == set(registered), (
        "services/cli.py COMMANDS differs from the commands the modules register"
    )
    for name, module, summary in COMMANDS:
        assert registered[name][0] == module, name
        assert registered[name][1].startswith(summary), (
            f"{name}: its help no longer starts with {summary!r}; update COMMANDS"
        )


def test_a_lazy_command_runs_and_shows_its_own_help() -> None:
    result = CliRunner().invoke(app, ["lag", "--help"])
    assert result.exit_code == 0, result.output
    assert "partition" in result.output


def test_help_imports_no_service_module() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from services.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('fastapi', 'aiokafka', 'asyncpg', 'faust', 'httpx', 'uvicorn', 'services.ghl',\n"
        "         'services.poller', 'streams')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ghl-sync {version('ghl-sync')}"
