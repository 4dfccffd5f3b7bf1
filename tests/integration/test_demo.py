"""`ghl-sync demo`, small: every service against the simulator, it converges, and with
`--keep-running` SIGTERM stops every service it started."""

from __future__ import annotations

import os
import signal
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


def _children(parent: int) -> list[int]:
    """Live children of `parent` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry.name))
    return found


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
    # --keep-running: the report, then the services stay up until SIGTERM stops them all.
    demo = subprocess.Popen(
        [str(GHL_SYNC), "demo", "--locations", "2", "--contacts", "20",
         "--activity-seconds", "10", "--keep-running"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert demo.stdout is not None
    lines = []
    try:
        for line in demo.stdout:
            lines.append(line)
            if "the services keep running" in line:
                break
        output = "".join(lines)
        assert "the services keep running" in output, output[-4000:]
        children = _children(demo.pid)
        assert len(children) == 5, children  # simulator, webhooks, worker, installs, poller
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    output += rest
    assert demo.returncode == 0, output[-4000:]
    assert "stopped (SIGTERM)" in output
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], children
    # Every service ran and left a log; none crashed with a traceback.
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.rglob("*.log")}
    assert {"simulator.log", "webhooks.log", "worker.log", "poller.log"} <= set(logs)
    for name, text in logs.items():
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
