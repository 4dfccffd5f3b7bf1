"""The public surface stays complete and the CLI command is registered."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

import services.simulator as simulator
from services.simulator.cli import register


def test_all_is_sorted_and_complete() -> None:
    assert simulator.__all__ == sorted(simulator.__all__)
    for name in ("SimulatorSettings", "SimulatorState", "create_app", "seed_state"):
        assert name in simulator.__all__
        assert hasattr(simulator, name)


def test_register_adds_the_simulator_command() -> None:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:
        """Keep Typer in multi-command mode."""

    result = CliRunner().invoke(app, ["simulator", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--seed", "--locations", "--contacts", "--webhook-url",
                   "--activity-rate"):  # fmt: skip
        assert option in result.output
