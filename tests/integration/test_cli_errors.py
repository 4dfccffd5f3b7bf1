"""Every common fault ends in one line naming the variable to change; `--debug` adds the
traceback. Each test runs the real `ghl-sync` console script in a subprocess."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories.processes import GHL_SYNC, clean_env, run_ghl_sync

pytestmark = pytest.mark.integration

NOBODY = "127.0.0.1:1"
"""An address where nothing listens (port 1 needs root to bind): connection refused."""

A_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
"""A well-formed token key, for commands that must get as far as their servers (a missing key
is an error of its own, reported first)."""


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_ghl_sync(*args, env=env, timeout=90)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line; fails when the command printed a traceback or no error."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_kafka_down() -> None:
    line = error_line(run("lag", GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS=NOBODY))
    assert "cannot reach Kafka at 127.0.0.1:1" in line
    assert "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS" in line


def test_postgres_down_hides_the_password() -> None:
    url = "postgresql://ghl_sync:hunter2@127.0.0.1:1/ghl_sync"
    result = run("migrate", GHL_SYNC_DATABASE_URL=url)
    line = error_line(result)
    assert "cannot reach PostgreSQL at postgresql://127.0.0.1:1/ghl_sync" in line
    assert "connection refused" in line
    assert "GHL_SYNC_DATABASE_URL" in line
    assert "hunter2" not in result.stderr + result.stdout


def test_postgres_down_for_the_poller_backfill() -> None:
    url = f"postgresql://ghl_sync@{NOBODY}/ghl_sync"
    line = error_line(
        run(
            "backfill",
            "--location",
            "x",
            GHL_SYNC_POLLER_DATABASE_URL=url,
            GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY=A_KEY,
        )
    )
    assert "cannot reach PostgreSQL" in line
    assert "GHL_SYNC_POLLER_DATABASE_URL" in line


def test_missing_database(test_settings: Any) -> None:
    url = test_settings.database_url.rsplit("/", 1)[0] + "/no_such_database_here"
    line = error_line(run("lag", GHL_SYNC_STREAMS_DATABASE_URL=url))
    assert 'database "no_such_database_here" does not exist' in line
    assert "GHL_SYNC_STREAMS_DATABASE_URL" in line


def test_a_list_setting_that_is_not_json() -> None:
    line = error_line(run("api", GHL_SYNC_API_API_KEYS="key1"))
    assert line.startswith("error: bad setting GHL_SYNC_API_API_KEYS:")
    assert "JSON list" in line


def test_a_number_that_is_not_one() -> None:
    line = error_line(run("api", GHL_SYNC_API_PORT="eighty"))
    assert "GHL_SYNC_API_PORT" in line
    assert "valid integer" in line
    assert "'eighty'" in line


def test_a_secret_is_never_echoed() -> None:
    result = run("settings", GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY="not-a-key", GHL_SYNC_API_PORT="x")
    assert result.returncode == 1
    assert "not-a-key" not in result.stdout + result.stderr
    assert "error: bad setting GHL_SYNC_API_PORT" in result.stderr


def test_busy_port(busy_port: int) -> None:
    line = error_line(run("simulator", GHL_SYNC_SIMULATOR_PORT=str(busy_port)))
    assert f"cannot listen on 127.0.0.1:{busy_port}" in line
    assert "GHL_SYNC_SIMULATOR_PORT" in line


def test_malformed_token_key(test_settings: Any) -> None:
    result = run(
        "poller",
        "--metrics-port",
        "0",
        GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY="",
        GHL_SYNC_POLLER_DATABASE_URL=test_settings.database_url,
        GHL_SYNC_POLLER_KAFKA_BOOTSTRAP_SERVERS=test_settings.kafka_bootstrap_servers,
    )
    line = error_line(result)
    assert "bad setting GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY" in line
    assert "ghl-sync auth --new-key" in line


def test_the_worker_refuses_a_missing_token_key_before_it_starts(test_settings: Any) -> None:
    result = run(
        "worker",
        GHL_SYNC_STREAMS_DATABASE_URL=test_settings.database_url,
        GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS=NOBODY,  # refused before any server is tried
        GHL_SYNC_STREAMS_METRICS_PORT="0",
    )
    line = error_line(result)
    assert "bad setting GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY" in line
    assert "ghl-sync auth --new-key" in line


def test_debug_shows_the_traceback() -> None:
    result = run("--debug", "lag", GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS=NOBODY)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: cannot reach Kafka")


def test_version_and_an_unknown_command() -> None:
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("ghl-sync ")
    unknown = run("no-such-command")
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr
    assert "Traceback" not in unknown.stderr


_DOWN = {
    **{
        f"GHL_SYNC_{s}DATABASE_URL": f"postgresql://ghl_sync@{NOBODY}/ghl_sync"
        for s in ("", "STREAMS_", "WEBHOOKS_", "POLLER_", "API_", "WRITER_")
    },
    **{
        f"GHL_SYNC_{s}_KAFKA_BOOTSTRAP_SERVERS": NOBODY
        for s in ("STREAMS", "WEBHOOKS", "POLLER", "API", "WRITER")
    },
    "GHL_SYNC_STREAMS_METRICS_PORT": "0",
    "GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY": A_KEY,  # only the servers are wrong
}


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["lag"],
        ["verify"],
        ["replay"],
        ["status"],
        ["backfill", "--location", "x"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_command_reports_servers_that_are_down_in_one_line(command: list[str]) -> None:
    line = error_line(run(*command, **_DOWN))
    assert line.startswith(("error: cannot reach PostgreSQL", "error: cannot reach Kafka")), line
    assert "127.0.0.1:1" in line
    assert "check GHL_SYNC_" in line


@pytest.mark.parametrize(
    "command", [["poller", "--metrics-port", "0"], ["worker"]], ids=lambda argv: argv[0]
)
def test_a_service_stays_up_with_servers_down_and_says_so_once(command: list[str]) -> None:
    """The poller and the worker are long-running services: their outage policy is to wait,
    not to exit (the one-shot commands above exit with one line)."""
    proc = subprocess.Popen(
        [GHL_SYNC, *command],
        env=clean_env(_DOWN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(6)
        still_running = proc.poll() is None
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert still_running, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert any("unreachable" in line and "staying up" in line for line in lines), stderr
    assert len(lines) <= 4, stderr


def test_busy_metrics_port_of_the_worker(busy_port: int, worker_env: dict[str, str]) -> None:
    line = error_line(
        run(
            "worker",
            **worker_env,
            GHL_SYNC_STREAMS_METRICS_PORT=str(busy_port),
            GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY=A_KEY,
        )
    )
    assert f"cannot listen on port {busy_port}" in line
    assert "GHL_SYNC_STREAMS_METRICS_PORT" in line
