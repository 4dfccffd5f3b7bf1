"""`ghl-sync poller` with a Private Integration Token and no locations asks GHL (here the
simulator over HTTP) which location the token sees; a token that may not list it ends the
poller at once with exit 1 and one error line naming the scope and the variable to set (it used to
start and poll nothing, silently). The token that can list it is covered in
tests/unit/poller/test_poller_pit_location.py."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr

from services.simulator import PrivateIntegrationToken, SimulatorSettings, create_app, seed_state

pytestmark = pytest.mark.integration

GHL_SYNC = str(Path(sys.executable).with_name("ghl-sync"))
PIT = "pit-0f8e7d6c-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_poller_refuses_a_pit_that_cannot_list_its_location_in_one_line() -> None:
    state = seed_state(seed=5, locations=1, contacts_per_location=1)
    [location] = state.locations
    settings = SimulatorSettings(
        seed=5,
        webhook_urls=(),
        private_integration_tokens=(
            PrivateIntegrationToken(token=SecretStr(PIT), location_id=location),
        ),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, state=state), host="127.0.0.1", port=port,
            log_level="warning", lifespan="off",
        )
    )  # fmt: skip
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            for _ in iter(int, 1):  # uvicorn offers no event for "listening"
                if server.started:
                    break
                await asyncio.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
        env["GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN"] = PIT
        env["GHL_SYNC_GHL_BASE_URL"] = f"http://127.0.0.1:{port}"
        child = await asyncio.create_subprocess_exec(
            GHL_SYNC, "poller", "--metrics-port", "0", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(90):
            out, err = await child.communicate()
    finally:
        server.should_exit = True
        await serving
    stdout, stderr = out.decode(), err.decode()
    assert child.returncode == 1, stdout + stderr
    # Before it, the client's own log line of the 401; no traceback.
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: GHL_SYNC_POLLER_LOCATIONS is empty and GHL refused to list")
    assert "locations.readonly" in lines[-1]
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert "Traceback" not in stderr
    assert PIT not in stdout + stderr
