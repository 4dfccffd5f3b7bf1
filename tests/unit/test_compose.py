"""docker-compose.yml stays true to the CLI and to the local stack."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main
import yaml

from services.cli import app
from services.stack import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _resolves(group: Any, argv: list[str]) -> bool:
    """Whether argv names a command of the CLI (typer vendors click: go by `commands`)."""
    command = group
    for word in argv:
        subcommands = getattr(command, "commands", None)
        if word.startswith("-") or subcommands is None:
            break
        if word not in subcommands:
            return False
        command = subcommands[word]
    return command is not group and getattr(command, "commands", None) is None


def test_every_ghl_sync_service_runs_a_real_cli_command() -> None:
    root = typer.main.get_command(app)
    services = _compose()["services"]
    ours = {name: svc for name, svc in services.items() if "build" in svc}
    assert ours, "compose names no ghl-sync service"
    for name, svc in ours.items():
        assert _resolves(root, list(svc["command"])), f"{name}: {svc['command']} is not a command"


def test_infrastructure_matches_the_local_stack() -> None:
    services = _compose()["services"]
    kafka_image = services["kafka"]["image"]
    assert kafka_image == f"apache/kafka:{StackSettings().kafka_version}"
    pom = (ROOT / "services" / "stack" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match is not None
    assert match.group(1) == StackSettings().kafka_version
    assert services["postgres"]["image"].startswith("postgres:15")
    for name in ("kafka", "postgres"):
        assert "healthcheck" in services[name], f"{name} has no health check"
