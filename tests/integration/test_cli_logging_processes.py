"""Every service logs through the one setup: JSON lines on request, uvicorn's access lines
only at DEBUG, faust's worker without its colours. Real processes, started as users do."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.factories.processes import GHL_SYNC, clean_env, free_port

pytestmark = pytest.mark.integration


def _start(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [GHL_SYNC, *args],
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err


def _wait_http(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _simulator_log(level: str) -> list[dict[str, Any]]:
    port = free_port()
    process = _start(
        "simulator",
        "--port",
        str(port),
        "--locations",
        "1",
        "--contacts",
        "1",
        "--activity-rate",
        "0",
        GHL_SYNC_LOG_FORMAT="json",
        GHL_SYNC_LOG_LEVEL=level,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/_admin/faults")
        httpx.get(f"http://127.0.0.1:{port}/_admin/faults?probe=request-log", timeout=5)
    finally:
        err = _stop(process)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "the simulator logged nothing"
    return [json.loads(line) for line in lines]  # every line is JSON


def test_uvicorn_logs_json_and_requests_only_at_debug() -> None:
    info = _simulator_log("INFO")
    assert any(e["logger"].startswith("uvicorn") for e in info)
    assert not [e for e in info if "request-log" in e["message"]]
    debug = _simulator_log("DEBUG")
    access = [e for e in debug if "request-log" in e["message"]]
    assert access
    assert {e["level"] for e in access} == {"DEBUG"}
    assert {e["logger"] for e in access} == {"uvicorn.access"}


def test_the_worker_logs_json_lines_without_colours(
    pg_schema: str, worker_env: dict[str, str]
) -> None:
    process = _start(
        "worker",
        **worker_env,
        GHL_SYNC_LOG_FORMAT="json",
        GHL_SYNC_STREAMS_PROCESSORS='["projections"]',
        GHL_SYNC_STREAMS_METRICS_PORT="0",
        GHL_SYNC_STREAMS_DATABASE_SCHEMA=pg_schema,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        for line in process.stderr:
            seen.append(line)
            if "Ready" in line or len(seen) > 500:
                break
    finally:
        seen += _stop(process).splitlines()
    entries = [json.loads(line) for line in seen if line.strip()]
    assert any(e["logger"] == "faust.worker" and "Ready" in e["message"] for e in entries)
    assert not [line for line in seen if "\x1b" in line]
