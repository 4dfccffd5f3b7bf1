"""`ghl-sync demo`, small: every service against the simulator, and it converges."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

GHL_SYNC = Path(sys.executable).with_name("ghl-sync")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_small_demo_converges_with_webhook_faults(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GHL_SYNC_DEMO_SIMULATOR_PORT": str(_free_port()),
        "GHL_SYNC_DEMO_WEBHOOKS_PORT": str(_free_port()),
        "GHL_SYNC_DEMO_WORKER_METRICS_PORT": str(_free_port()),
        "GHL_SYNC_DEMO_POLLER_METRICS_PORT": str(_free_port()),
        "GHL_SYNC_DEMO_LOG_DIR": str(tmp_path),
        "GHL_SYNC_DEMO_POLL_SECONDS": "5",
    }
    done = subprocess.run(
        [str(GHL_SYNC), "demo", "--locations", "2", "--contacts", "20",
         "--activity-seconds", "10"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "converged: the projections equal the simulator's ground truth" in output
    assert "projection lag 0" in output
    # Every service ran and left a log; none crashed with a traceback.
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.rglob("*.log")}
    assert {"simulator.log", "webhooks.log", "worker.log", "poller.log"} <= set(logs)
    for name, text in logs.items():
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
