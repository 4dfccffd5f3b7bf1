"""`ghl-sync poller` with a Private Integration Token and no locations: exit 1 and one line
naming the variable to set (it used to start and poll nothing, silently)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

GHL_SYNC = str(Path(sys.executable).with_name("ghl-sync"))


def test_the_poller_refuses_a_pit_without_locations_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    env["GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN"] = "pit-0f8e7d6c-secret"
    done = subprocess.run(
        [GHL_SYNC, "poller", "--metrics-port", "0"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN is set but "
                               "GHL_SYNC_POLLER_LOCATIONS is empty")  # fmt: skip
    assert "pit-0f8e7d6c-secret" not in done.stdout + done.stderr
