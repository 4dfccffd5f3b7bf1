"""`ghl-sync --help` and every command's `--help` stay fast: they import none of the libraries a
service needs (issue 14: "--help under 1 s (import lazily)"). Checked by what a fresh
interpreter has imported, not by the clock, so a loaded machine cannot fail it.

Commands of one module import the same things for their help, so one command per module of
`services.cli.COMMANDS` is probed. `streams.projections.cli` (replay, verify, lag) still imports
asyncpg and httpx at its top and is not probed yet."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.cli import COMMANDS

HEAVY = ("aiokafka", "asyncpg", "faust", "fastapi", "uvicorn", "schemas", "pydantic_settings")
"""Imported by services, never by the help of the root or of `run`."""

_PROBE = """
import json, sys
from services.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

_FIRST_COMMAND: dict[str, str] = {}
"""Command module -> its first command in `COMMANDS`."""
for _name, _module, _ in COMMANDS:
    _FIRST_COMMAND.setdefault(_module, _name)


def _imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("run", "--help"), ("migrate", "--help")])
def test_help_imports_no_service_library(args: tuple[str, ...]) -> None:
    assert _imported(*args) & set(HEAVY) == set()


@pytest.mark.parametrize("command", sorted(_FIRST_COMMAND.values()))
def test_a_commands_help_imports_no_service_library(command: str) -> None:
    assert _imported(command, "--help") & set(HEAVY) == set()


def test_the_platform_package_loads_the_batch_consumer_on_first_use() -> None:
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, services.platform as p; before = 'aiokafka' in sys.modules; "
         "p.BatchConsumer; print(before, 'aiokafka' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["False", "True"]
