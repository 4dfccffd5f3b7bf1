"""The fault test: 1,000 commands while the simulator times out after applying, answers 5xx,
storms 429s and plays the 422-yet-created trap, and while the writer process is killed with
SIGKILL and restarted. The simulator's ground truth shows exactly one effect per command, and
every command reaches a terminal state.

The simulator is served over HTTP by uvicorn in this process; the writer is its own process
(`python -m services.writer`), configured through its environment like in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from test_writeback_harness import (  # type: ignore[import-not-found]
    PARTITIONS,
    WorldFactory,
    world_factory,
)

from schemas import (
    AddContactTags,
    CommandBase,
    CreateContact,
    CreateNote,
    CreateTask,
    UpdateContact,
    UpdateTask,
)
from services.simulator import SimulatorSettings
from services.simulator import create_app as create_simulator

pytestmark = pytest.mark.integration
__all__ = ["world_factory"]

FAULTS = {
    "error_rate": 0.05,
    "rate_limit_storm_rate": 0.05,
    "timeout_after_apply_rate": 0.05,
    "stall_seconds": 1.0,
    "create_422_rate": 0.1,
}
KILLS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _commands(locations: dict[str, Any], rng_seed: int = 7) -> list[CommandBase]:
    import random

    rng = random.Random(rng_seed)
    out: list[CommandBase] = []
    run = uuid.uuid4().hex[:8]
    due = datetime(2026, 7, 1, tzinfo=UTC)
    contacts = [(loc, c["id"]) for loc, d in locations.items() for c in d["contacts"]]
    tasks = [(loc, t["contactId"], t["id"]) for loc, d in locations.items() for t in d["tasks"]]
    plan = ["contact"] * 150 + ["task"] * 250 + ["note"] * 250 + ["tag"] * 150
    plan += ["update"] * 100 + ["task_update"] * 100
    rng.shuffle(plan)
    for n, kind in enumerate(plan):
        cid = f"f-{run}-{n}"
        loc, contact = rng.choice(contacts)
        if kind == "contact":
            out.append(
                CreateContact(
                    command_id=cid,
                    location_id=loc,
                    payload={"email": f"{cid}@example.com", "firstName": "F"},
                )
            )
        elif kind == "task":
            out.append(
                CreateTask(
                    command_id=cid,
                    location_id=loc,
                    contact_id=contact,
                    payload={"title": cid, "dueDate": due + timedelta(minutes=n)},
                )
            )
        elif kind == "note":
            out.append(
                CreateNote(
                    command_id=cid, location_id=loc, contact_id=contact, payload={"body": cid}
                )
            )
        elif kind == "tag":
            out.append(
                AddContactTags(
                    command_id=cid, location_id=loc, contact_id=contact, payload={"tags": [cid]}
                )
            )
        elif kind == "update":
            out.append(
                UpdateContact(
                    command_id=cid, location_id=loc, contact_id=contact, payload={"city": cid}
                )
            )
        else:
            loc, contact, task = rng.choice(tasks)
            out.append(
                UpdateTask(
                    command_id=cid, location_id=loc, contact_id=contact, task_id=task,
                    payload={"title": cid},
                )
            )  # fmt: skip
    return out


def _writer_env(world: Any, base_url: str, tokens: dict[str, str]) -> dict[str, str]:
    w = world.writer_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    env.update(
        {
            "GHL_SYNC_WRITER_KAFKA_BOOTSTRAP_SERVERS": world.bootstrap,
            "GHL_SYNC_WRITER_TOPIC_PREFIX": w.topic_prefix,
            "GHL_SYNC_WRITER_TOPIC_PARTITIONS": str(PARTITIONS),
            "GHL_SYNC_WRITER_DATABASE_URL": world.database_url,
            "GHL_SYNC_WRITER_DATABASE_SCHEMA": world.schema,
            "GHL_SYNC_WRITER_LOCATION_TOKENS": json.dumps(tokens),
            "GHL_SYNC_WRITER_RETRY_BACKOFF": "0.05",
            "GHL_SYNC_WRITER_RETRY_BACKOFF_MAX": "1.0",
            "GHL_SYNC_WRITER_LOOKUP_DELAY": "0.2",
            "GHL_SYNC_WRITER_METRICS_PORT": "0",
            "GHL_SYNC_GHL_BASE_URL": base_url,
            "GHL_SYNC_GHL_READ_TIMEOUT": "0.5",
            "GHL_SYNC_GHL_RATE_LIMIT_REQUESTS": "2000",
            "GHL_SYNC_GHL_RETRY_BACKOFF": "0.05",
            "GHL_SYNC_GHL_RETRY_BACKOFF_MAX": "0.5",
            "GHL_SYNC_GHL_DEFAULT_RETRY_AFTER": "0.2",
        }
    )
    return env


async def test_one_effect_per_command_under_faults_and_sigkill(
    world_factory: WorldFactory,
) -> None:
    world = await world_factory(locations=4, contacts_per_location=25)
    sim_settings = SimulatorSettings(
        seed=5, locations=4, contacts_per_location=25, rate_limit_max=2000
    )
    # The writer reaches GHL over TCP, like in production: a simulator served by uvicorn.
    simulator = create_simulator(sim_settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(simulator, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    base_url = f"http://127.0.0.1:{port}"
    admin = httpx.AsyncClient(base_url=base_url, timeout=60)
    log = Path(tempfile.mkstemp(prefix="writer-", suffix=".log")[1])
    writer: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = {}

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "services.writer"],
                env=_writer_env(world, base_url, tokens),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.05)
        locations = (await admin.get("/_admin/state")).json()["locations"]
        for location_id in locations:
            minted = (await admin.post("/_admin/tokens", json={"locationId": location_id})).json()
            tokens[location_id] = minted["access_token"]
        commands = _commands(locations)
        ids = [c.command_id for c in commands]
        assert (await admin.post("/_admin/faults?reset=true", json=FAULTS)).status_code == 200
        writer = start()
        await world.produce(commands)
        killed_mid_flight = 0
        for _ in range(KILLS):
            await asyncio.sleep(2.0)
            states = await world.states(ids)
            killed_mid_flight += sum(s == "succeeded" for s in states.values()) < len(ids)
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            writer = start()
        async with asyncio.timeout(300):
            while True:
                states = await world.states(ids)
                terminal = [s for s in states.values() if s in ("succeeded", "failed", "rejected")]
                if len(terminal) == len(ids):
                    break
                assert writer.poll() is None, (await asyncio.to_thread(log.read_text))[-3000:]
                await asyncio.sleep(0.5)
        await admin.post("/_admin/faults?reset=true", json={})
        truth = (await admin.get("/_admin/state")).json()["locations"]
    finally:
        if writer is not None and writer.poll() is None:
            writer.send_signal(signal.SIGTERM)
            try:
                writer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                writer.kill()
        await admin.aclose()
        server.should_exit = True
        await serving

    assert Counter(states.values()) == Counter({"succeeded": len(ids)}), Counter(states.values())
    emails = Counter(c["email"] for d in truth.values() for c in d["contacts"] if c.get("email"))
    titles = Counter(t["title"] for d in truth.values() for t in d["tasks"])
    bodies = Counter(n["body"] for d in truth.values() for n in d["notes"])
    tags = Counter(t for d in truth.values() for c in d["contacts"] for t in c.get("tags", []))
    cities = {c["id"]: c.get("city") for d in truth.values() for c in d["contacts"]}
    task_titles = {t["id"]: t["title"] for d in truth.values() for t in d["tasks"]}
    last_city: dict[str, str] = {}
    last_title: dict[str, str] = {}
    for c in commands:
        if isinstance(c, CreateContact):
            assert emails[f"{c.command_id}@example.com"] == 1, c.command_id
        elif isinstance(c, CreateTask):
            assert titles[c.command_id] == 1, c.command_id
        elif isinstance(c, CreateNote):
            assert bodies[c.command_id] == 1, c.command_id
        elif isinstance(c, AddContactTags):
            assert tags[c.command_id.lower()] == 1, c.command_id
        elif isinstance(c, UpdateContact):
            last_city[c.contact_id] = c.command_id
        elif isinstance(c, UpdateTask):
            last_title[c.task_id] = c.command_id
    # Order per contact: the last command of each contact wins.
    assert all(cities[k] == v for k, v in last_city.items())
    assert all(task_titles[k] == v for k, v in last_title.items())
    # The faults and kills did happen, mid-way: creates were adopted, requests retried.
    assert killed_mid_flight >= KILLS - 1
    figures = await world.pool.fetchrow(
        "SELECT count(*) FILTER (WHERE (result->>'adopted')::boolean) AS adopted,"
        " count(*) FILTER (WHERE attempts > 1) AS repeated FROM writer_commands"
    )
    assert figures is not None
    assert figures["adopted"] >= 10, dict(figures)
    text = await asyncio.to_thread(log.read_text)
    assert "will be retried" in text
    print(f"fault test: {dict(figures)}, kills mid-flight {killed_mid_flight}")
