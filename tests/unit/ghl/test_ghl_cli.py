"""`ghl-sync catalog` and `ghl-sync auth --new-key` through `register`."""

from __future__ import annotations

import base64
import json

import typer
from typer.testing import CliRunner

from services.catalog import TRIGGERS
from services.ghl import OPERATIONS
from services.ghl.cli import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_catalog_json_lists_every_action_and_trigger() -> None:
    result = CliRunner().invoke(_app(), ["catalog", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["name"] for r in rows if r["kind"] == "action"} == set(OPERATIONS)
    assert {r["name"] for r in rows if r["kind"] == "trigger"} == set(TRIGGERS)
    assert all(r["client"] for r in rows if r["kind"] == "action")


def test_catalog_table_summarises() -> None:
    result = CliRunner().invoke(_app(), ["catalog"])
    assert result.exit_code == 0, result.output
    assert f"{len(OPERATIONS)} actions" in result.output


def test_auth_new_key_prints_a_32_byte_key() -> None:
    result = CliRunner().invoke(_app(), ["auth", "--new-key"])
    assert result.exit_code == 0
    assert len(base64.urlsafe_b64decode(result.output.strip())) == 32
