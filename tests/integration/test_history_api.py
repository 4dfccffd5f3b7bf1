"""The history consumer on the real broker, the read API's history and `as_of` routes, and
`ghl-sync history`, over one contact's changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from schemas import Contact, ContactDeleted, ContactUpserted, Task, TaskUpserted
from services.api.settings import ApiSettings
from streams.admin import ensure_topics
from streams.history.consumer import HistoryConsumer
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.conftest import TestSettings
from tests.factories import T0, encoded, produce
from tests.factories.api import api_http

pytestmark = pytest.mark.integration

LOC, CID = "locH", "contactH"
ROOT = Path(__file__).resolve().parents[2]


def _events() -> list:
    """Three contact versions (the middle one arrives last), a task and then a deletion."""
    out = []
    for n, tags in enumerate((["new"], ["new", "vip"], ["vip"])):
        at = T0 + timedelta(minutes=10 * (n + 1))
        contact = Contact(
            id=CID, locationId=LOC, firstName=f"Ann{n}", email=f"ann{n}@example.com",
            tags=tags, dateAdded=T0, dateUpdated=at,
        )  # fmt: skip
        source = "writer" if n == 2 else "webhook"
        out.append(
            ContactUpserted.build(
                location_id=LOC,
                contact=contact,
                source=source,
                observed_at=at + timedelta(seconds=2),
            )
        )
    task = Task(id="t1", title="Call", contactId=CID, dateUpdated=T0 + timedelta(minutes=15))
    out.append(
        TaskUpserted.build(
            location_id=LOC, task=task, source="poll", observed_at=T0 + timedelta(minutes=16)
        )
    )
    out.append(
        ContactDeleted.build(
            location_id=LOC,
            contact_id=CID,
            source="reconcile",
            observed_at=T0 + timedelta(hours=2),
            deleted_at=T0 + timedelta(hours=2),
        )
    )
    # The middle version late, and a duplicate of the first.
    return [out[0], out[2], out[3], out[4], out[1], out[0]]


@pytest.fixture
async def loaded(
    test_settings: TestSettings, pg_schema: str, kafka_bootstrap: str
) -> AsyncIterator[StreamsSettings]:
    """The events on a fresh topic, consumed into the history tables by the consumer."""
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    settings = StreamsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        topic_partitions=2,
        database_url=SecretStr(test_settings.database_url),
        database_schema=pg_schema,
        batch_wait=0.05,
    )
    topic = topic_names(settings).events
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    values, keys = encoded(_events())
    await produce(kafka_bootstrap, topic, values, keys)
    consumer = HistoryConsumer(settings, group_id=f"{prefix}history")
    running = asyncio.create_task(consumer.run())
    conn = await asyncpg.connect(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    try:
        for _ in range(600):
            done = await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM history_offsets")
            if done == len(values) and consumer.applied == len(values):
                break
            assert not running.done(), running
            await asyncio.sleep(0.1)
        held = consumer.consumer.highwater() if consumer.consumer else None
        assert consumer.applied == len(values), (done, held)
        yield settings
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await conn.close()


@pytest.fixture
async def http(loaded: StreamsSettings, kafka_bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    api = ApiSettings(
        api_keys=[SecretStr("k")],
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=loaded.topic_prefix,
        topic_partitions=2,
        database_url=loaded.database_url,
        database_schema=loaded.database_schema,
    )
    async with api_http(api, "k") as client:
        yield client


async def test_history_lists_every_change_in_version_order_with_times_and_sources(
    http: httpx.AsyncClient,
) -> None:
    body = (await http.get(f"/v1/contacts/{CID}/history")).json()
    assert body["location_id"] == LOC
    entries = body["entries"]
    assert [(e["entity_type"], e["action"], e["source"]) for e in entries] == [
        ("contact", "created", "webhook"),
        ("task", "created", "poll"),
        ("contact", "updated", "webhook"),
        ("contact", "updated", "writer"),
        ("contact", "deleted", "reconcile"),
    ]
    tags = [c for e in entries[2:4] for c in e["changes"] if c["field"] == "tags"]
    assert tags == [
        {"field": "tags", "old": ["new"], "new": ["new", "vip"]},
        {"field": "tags", "old": ["new", "vip"], "new": ["vip"]},
    ]
    assert entries[2]["occurred_at"] == "2026-01-01T00:20:00Z"
    assert entries[2]["observed_at"] == "2026-01-01T00:20:02Z"

    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get(f"/v1/contacts/{CID}/history", params=params)).json()
        pages.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == entries
    only_tasks = await http.get(f"/v1/contacts/{CID}/history", params={"entity": "task"})
    assert [e["entity_id"] for e in only_tasks.json()["entries"]] == ["t1"]
    emails = await http.get(f"/v1/contacts/{CID}/history", params={"field": "email"})
    assert len(emails.json()["entries"]) == 4
    window = await http.get(
        f"/v1/contacts/{CID}/history",
        params={"since": "2026-01-01T00:15:00Z", "until": "2026-01-01T00:30:00Z"},
    )
    assert [e["at"] for e in window.json()["entries"]] == [
        "2026-01-01T00:15:00Z",
        "2026-01-01T00:20:00Z",
    ]
    assert (await http.get("/v1/contacts/nobody/history")).status_code == 404
    bad = await http.get(f"/v1/contacts/{CID}/history", params={"cursor": "junk"})
    assert bad.status_code == 422
    assert "cursor" in bad.json()["message"]


async def test_as_of_shows_the_contact_as_it_was(http: httpx.AsyncClient) -> None:
    def at(minutes: int) -> str:
        return (T0 + timedelta(minutes=minutes)).isoformat()

    view = (await http.get(f"/v1/contacts/{CID}", params={"as_of": at(25)})).json()
    assert view["contact"]["firstName"] == "Ann1"
    assert view["tags"] == ["new", "vip"]
    assert [t["id"] for t in view["tasks"]] == ["t1"]
    early = (await http.get(f"/v1/contacts/{CID}", params={"as_of": at(12)})).json()
    assert early["contact"]["firstName"] == "Ann0"
    assert early["tasks"] == []
    before = await http.get(f"/v1/contacts/{CID}", params={"as_of": at(5)})
    assert before.status_code == 404
    gone = await http.get(f"/v1/contacts/{CID}", params={"as_of": at(180)})
    assert gone.status_code == 404
    naive = await http.get(f"/v1/contacts/{CID}", params={"as_of": "2026-01-01T00:25:00"})
    assert naive.status_code == 422


async def test_the_command_prints_the_same_history(loaded: StreamsSettings) -> None:
    env = {
        **os.environ,
        "GHL_SYNC_DATABASE_URL": loaded.database_url.get_secret_value(),
        "GHL_SYNC_DATABASE_SCHEMA": loaded.database_schema,
    }
    cli = [str(Path(sys.executable).parent / "ghl-sync"), "history", CID]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True, cwd=ROOT)

    out = await asyncio.to_thread(run, "--json")
    assert out.returncode == 0, out.stderr
    entries = json.loads(out.stdout)["entries"]
    assert [e["action"] for e in entries] == ["created", "created", "updated", "updated", "deleted"]
    text = await asyncio.to_thread(run, "--field", "tags")
    assert text.returncode == 0, text.stderr
    assert 'tags: ["new"] → ["new", "vip"]' in text.stdout
    assert "source writer" in text.stdout
