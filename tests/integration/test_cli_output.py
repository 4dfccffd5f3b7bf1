"""Reports are whole when piped (no 80-column cut), and every reporting command speaks JSON.

Each test runs the real `ghl-sync` console script in a subprocess, so stdout is a pipe, as
it is under `| grep` or `> file`; the servers are the real ones, in a fresh schema and topic
prefix.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.factories.processes import run_ghl_sync

pytestmark = pytest.mark.integration


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_ghl_sync(*args, env=env, timeout=120)


@pytest.fixture
async def isolated(
    kafka_admin: AIOKafkaAdminClient, pg_schema: str, test_settings: Any
) -> AsyncIterator[dict[str, str]]:
    """Settings for a fresh schema and a topic prefix whose ghl.events has 2 empty partitions."""
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    await kafka_admin.create_topics(
        [NewTopic(f"{prefix}ghl.events.v1", num_partitions=2, replication_factor=1)]
    )
    env = {"GHL_SYNC_DATABASE_URL": test_settings.database_url,
           "GHL_SYNC_DATABASE_SCHEMA": pg_schema}  # fmt: skip
    for service in ("STREAMS", "POLLER"):
        env[f"GHL_SYNC_{service}_DATABASE_URL"] = test_settings.database_url
        env[f"GHL_SYNC_{service}_DATABASE_SCHEMA"] = pg_schema
        env[f"GHL_SYNC_{service}_KAFKA_BOOTSTRAP_SERVERS"] = test_settings.kafka_bootstrap_servers
        env[f"GHL_SYNC_{service}_TOPIC_PREFIX"] = prefix
    yield env
    await kafka_admin.delete_topics([f"{prefix}ghl.events.v1"])


def test_catalog_is_not_cut_when_piped() -> None:
    result = run("catalog", env={})
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) > 80
    assert "\x1b[" not in result.stdout


def test_status_is_not_cut_when_piped(isolated: dict[str, str]) -> None:
    result = run("status", env=isolated)
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    prefix = isolated["GHL_SYNC_STREAMS_TOPIC_PREFIX"]
    assert f"{prefix}ghl.events.v1" in result.stdout  # a long cell, whole
    assert "\x1b[" not in result.stdout


def test_lag_verify_and_replay_speak_json(isolated: dict[str, str]) -> None:
    lag = run("lag", "--json", env=isolated)
    assert lag.returncode == 0, lag.stderr
    report = json.loads(lag.stdout)
    assert [p["partition"] for p in report["partitions"]] == [0, 1]
    assert report["total_lag"] == 0
    verify = run("verify", "--json", env=isolated)
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout) == {"match": True, "against": "rebuild", "differences": []}
    replay = run("replay", "--json", env=isolated)
    assert replay.returncode == 0, replay.stderr
    replayed = json.loads(replay.stdout)
    assert replayed["events"] == 0
    assert replayed["swapped"] is True
    assert replayed["history"]["events"] == 0  # replay rebuilds the history like the rest


def test_stack_status_speaks_json() -> None:
    result = run("stack", "status", "--json", env={})
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["healthy"] else 1)
    assert set(report) == {"healthy", "kafka", "postgres"}
    assert report["kafka"]["bootstrap"]


def test_settings_shows_values_in_effect_with_secrets_masked() -> None:
    env = {
        "GHL_SYNC_STREAMS_DATABASE_URL": "postgresql://app:s3cret-pw@db.example:5433/sync",
        "GHL_SYNC_GHL_CLIENT_SECRET": "client-s3cret",
        "GHL_SYNC_API_API_KEYS": '["key-s3cret"]',
        "GHL_SYNC_STREAMS_PROCESSORS": '["projections"]',
        "GHL_SYNC_LOG_FORMAT": "json",
    }
    result = run("settings", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    values = {row["variable"]: row for row in json.loads(result.stdout)}
    url = values["GHL_SYNC_STREAMS_DATABASE_URL"]
    assert url == {
        "section": url["section"],
        "variable": "GHL_SYNC_STREAMS_DATABASE_URL",
        "value": "postgresql://app:****@db.example:5433/sync",
        "source": "set",
    }
    assert values["GHL_SYNC_GHL_CLIENT_SECRET"]["value"] == "(secret)"
    assert values["GHL_SYNC_STREAMS_PROCESSORS"]["value"] == '["projections"]'
    assert values["GHL_SYNC_LOG_FORMAT"]["value"] == "json"
    assert values["GHL_SYNC_LOG_LEVEL"]["source"] == "default"
    table = run("settings", env=env)
    assert (
        "GHL_SYNC_STREAMS_DATABASE_URL\tpostgresql://app:****@db.example:5433/sync\tset\n"
        in table.stdout
    )
    assert "s3cret" not in table.stdout


def test_migrate_speaks_json(isolated: dict[str, str]) -> None:
    result = run("migrate", "--json", env=isolated)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"applied": []}  # the fixture's schema is current
