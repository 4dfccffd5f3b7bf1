"""`ghl-sync auth --paste` against the simulator's OAuth, stdin piped: the consent URL is
printed, the address the simulator redirects to is pasted, the code is exchanged and the
location's tokens are stored (encrypted) in PostgreSQL; a pasted address with another state
stores nothing."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.ghl._crypto import generate_key
from tests.conftest import TestSettings

pytestmark = pytest.mark.integration

GHL_SYNC = str(Path(sys.executable).with_name("ghl-sync"))
REDIRECT = "http://127.0.0.1:1/oauth/callback"  # nothing listens: a headless server's view


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("simulator")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "simulator.log").open("wb") as log:
        proc = subprocess.Popen(
            [GHL_SYNC, "simulator", "--port", str(port), "--locations", "1", "--contacts", "1",
             "--activity-rate", "0"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/_admin/state", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, (tmp_path / "simulator.log").read_text()
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _auth(sim: str, settings: TestSettings, schema: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    env.update(
        GHL_SYNC_GHL_BASE_URL=sim,
        GHL_SYNC_GHL_AUTHORIZE_URL=f"{sim}/oauth/chooselocation",
        GHL_SYNC_GHL_CLIENT_ID="ghl-sync-simulator",
        GHL_SYNC_GHL_CLIENT_SECRET="simulator-client-secret",
        GHL_SYNC_GHL_REDIRECT_URI=REDIRECT,
        GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY=generate_key(),
        GHL_SYNC_DATABASE_URL=settings.database_url,
        GHL_SYNC_DATABASE_SCHEMA=schema,
    )
    return subprocess.Popen(
        [GHL_SYNC, "auth", "--paste"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _consent_url(auth: subprocess.Popen[str]) -> str:
    assert auth.stdout is not None
    for line in auth.stdout:
        if "/oauth/chooselocation?" in line:
            return line.strip()
    raise AssertionError("auth --paste printed no consent URL")


def _approve(consent_url: str) -> str:
    """What a user does in a browser: approve, and read where the browser is sent."""
    answer = httpx.get(consent_url + "&approve=true", timeout=10, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return location


async def _tokens(settings: TestSettings, schema: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})
    try:
        return await conn.fetch("SELECT * FROM ghl_tokens")
    finally:
        await conn.close()


def test_the_pasted_redirect_is_exchanged_and_its_tokens_stored(
    simulator: str, test_settings: TestSettings, pg_schema: str
) -> None:
    auth = _auth(simulator, test_settings, pg_schema)
    redirected = _approve(_consent_url(auth))
    out, err = auth.communicate(redirected + "\n", timeout=60)
    assert auth.returncode == 0, out + err
    location = next(iter(httpx.get(f"{simulator}/_admin/state").json()["locations"]))
    assert f"stored encrypted tokens for location {location}" in out
    rows = asyncio.run(_tokens(test_settings, pg_schema))
    assert [r["location_id"] for r in rows] == [location]
    # Encrypted at rest: the stored bytes are not the code or a readable token.
    code = redirected.split("code=", 1)[1].split("&", 1)[0]
    assert code.encode() not in b"".join(bytes(str(dict(r)), "utf-8") for r in rows)


def test_a_pasted_redirect_of_another_consent_stores_nothing(
    simulator: str, test_settings: TestSettings, pg_schema: str
) -> None:
    auth = _auth(simulator, test_settings, pg_schema)
    redirected = _approve(_consent_url(auth))
    forged = redirected.split("state=", 1)[0] + "state=someone-elses"
    out, err = auth.communicate(forged + "\n", timeout=60)
    assert auth.returncode == 1, out + err
    assert "another consent's state" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert asyncio.run(_tokens(test_settings, pg_schema)) == []
