"""`ghl-sync poller` with a Private Integration Token and no locations asks GHL (here the
simulator over HTTP) which location the token sees: a token with `locations.readonly` has
its location polled; a token without it ends the poller at once with exit 1 and one error
line naming the scope and the variable to set (it used to start and poll nothing, silently).
The answers themselves are covered in tests/unit/poller/test_poller_pit_location.py."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr

from services.simulator import PrivateIntegrationToken, SimulatorSettings, create_app, seed_state
from services.simulator.settings import ALL_SCOPES

pytestmark = pytest.mark.integration

GHL_SYNC = str(Path(sys.executable).with_name("ghl-sync"))
BLIND = "pit-0f8e7d6c-secret"
WITHOUT_LOCATIONS = tuple(s for s in ALL_SCOPES if s != "locations.readonly")
READER = "pit-5b2e91aa-reads-locations"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[str, str]]:
    """(base URL, location id) of a simulator where BLIND and READER (with
    `locations.readonly`) are the one location's tokens."""
    state = seed_state(seed=5, locations=1, contacts_per_location=1)
    [location] = state.locations
    settings = SimulatorSettings(
        seed=5,
        webhook_urls=(),
        private_integration_tokens=(
            PrivateIntegrationToken(
                token=SecretStr(BLIND), location_id=location, scopes=WITHOUT_LOCATIONS
            ),
            PrivateIntegrationToken(
                token=SecretStr(READER),
                location_id=location,
                scopes=ALL_SCOPES,
            ),
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
        yield f"http://127.0.0.1:{port}", location
    finally:
        server.should_exit = True
        await serving


async def _poller(base_url: str, token: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    env["GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN"] = token
    env["GHL_SYNC_GHL_BASE_URL"] = base_url
    # Nothing listens there: the poller, once past its start, waits for PostgreSQL.
    env["GHL_SYNC_DATABASE_URL"] = f"postgresql://nobody@127.0.0.1:{_free_port()}/none"
    return await asyncio.create_subprocess_exec(
        GHL_SYNC, "poller", "--metrics-port", "0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_the_poller_refuses_a_pit_that_cannot_list_its_location_in_one_line(
    simulator: tuple[str, str],
) -> None:
    child = await _poller(simulator[0], BLIND)
    try:
        async with asyncio.timeout(90):
            out, err = await child.communicate()
    finally:
        if child.returncode is None:  # it did not refuse: never leave it running
            child.kill()
            await child.wait()
    stdout, stderr = out.decode(), err.decode()
    assert child.returncode == 1, stdout + stderr
    # Before it, the client's own log line of the 401; no traceback.
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: GHL_SYNC_POLLER_LOCATIONS is empty and GHL refused to list")
    assert "locations.readonly" in lines[-1]
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert "Traceback" not in stderr
    assert BLIND not in stdout + stderr


async def test_the_poller_polls_the_location_its_pit_sees(simulator: tuple[str, str]) -> None:
    base_url, location = simulator
    child = await _poller(base_url, READER)
    assert child.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any("polling location" in line for line in seen):
                line = (await child.stderr.readline()).decode()
                assert line, f"the poller exited: {''.join(seen)}"
                seen.append(line)
    finally:
        child.terminate()
        await child.wait()
    [found] = [line for line in seen if "polling location" in line]
    assert f"polling location {location}, the one the Private Integration Token sees" in found
    assert READER not in "".join(seen)
