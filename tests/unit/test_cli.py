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
