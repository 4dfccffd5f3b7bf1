"""The command API and the read API on the real Kafka and PostgreSQL: 202 only once the command
is on the topic, status through to terminal, bad input named, reads from the projections."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from test_writeback_harness import (  # type: ignore[import-not-found]
    World,
    api_client,
    read_topic,
    world_factory,
)

from schemas import CommandResult, Contact, Note, Task
from services.api import CommandClient
from services.api._state import NOT_ON_TOPIC
from services.db.commands import AcceptedRow, WriterStore
from tests.factories.events import upserted

pytestmark = pytest.mark.integration
__all__ = ["api_client", "world_factory"]

Api = tuple[World, httpx.AsyncClient]


def _task_command(world: World, **extra: Any) -> dict[str, Any]:
    loc, data = world.first_location()
    return {
        "command_id": f"cmd-{uuid.uuid4().hex}",
        "command_type": "task.create",
        "location_id": loc,
        "contact_id": data["contacts"][0]["id"],
        "payload": {"title": "Call", "dueDate": "2026-05-01T10:00:00Z"},
        **extra,
    }


async def test_accepted_commands_are_on_the_topic_and_reach_a_terminal_state(api: Api) -> None:
    world, http = api
    bodies = [_task_command(world) for _ in range(20)]
    for body in bodies:
        response = await http.post("/v1/commands", json=body)
        assert response.status_code == 202, response.text
        assert response.json() == {"command_id": body["command_id"], "state": "accepted"}
    on_topic = await read_topic(world.bootstrap, world.topics.commands, settle=0.5)
    assert {json.loads(r.value)["command_id"] for r in on_topic} == {
        b["command_id"] for b in bodies
    }
    first = bodies[0]
    key = f"{first['location_id']}:{first['contact_id']}".encode()
    assert all(r.key == key for r in on_topic)
    status = (await http.get(f"/v1/commands/{first['command_id']}")).json()
    assert status["state"] == "accepted"
    assert status["result"] is None

    world.start_writer()
    await world.wait_terminal([b["command_id"] for b in bodies])
    status = (await http.get(f"/v1/commands/{first['command_id']}")).json()
    assert status["state"] == "succeeded"
    assert status["result"]["entity_type"] == "task"
    assert status["result"]["entity_id"]


async def test_resending_is_idempotent_and_a_reused_id_is_409(api: Api) -> None:
    world, http = api
    body = _task_command(world)
    assert (await http.post("/v1/commands", json=body)).status_code == 202
    assert (await http.post("/v1/commands", json=body)).status_code == 202
    other = {**body, "payload": {"title": "Other", "dueDate": "2026-05-01T10:00:00Z"}}
    response = await http.post("/v1/commands", json=other)
    assert response.status_code == 409
    assert response.json()["code"] == "command_id_reused"


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"command_type": "contact.explode"}, 422, "unknown command_type"),
        ({"payload": {"dueDate": "2026-05-01T10:00:00Z"}}, 422, "payload.title"),
        ({"payload": {"title": "x", "dueDate": "2026-05-01T10:00:00"}}, 422, "payload.dueDate"),
        ({"command_id": ""}, 422, "command_id"),
        ({"contact_id": None}, 422, "contact_id"),
        ({"surprise": 1}, 422, "surprise"),
        ({"expected_version": "2026-01-01T00:00:00Z"}, 422, "expected_version"),
    ],
)
async def test_bad_commands_get_a_4xx_naming_the_problem(
    api: Api, change: dict[str, Any], status: int, named: str
) -> None:
    world, http = api
    body = {k: v for k, v in {**_task_command(world), **change}.items() if v is not None}
    response = await http.post("/v1/commands", json=body)
    assert response.status_code == status, response.text
    assert named in response.json()["message"]


async def test_unreadable_bodies_and_missing_keys_are_refused(api: Api) -> None:
    world, http = api
    assert (await http.post("/v1/commands", content=b"{nope")).json()["code"] == "invalid_json"
    assert (await http.post("/v1/commands", content=b"")).status_code == 400
    big = _task_command(world, payload={"title": "x" * 300_000, "dueDate": "2026-05-01T10:00:00Z"})
    assert (await http.post("/v1/commands", json=big)).status_code == 413
    anonymous = await http.post(
        "/v1/commands", json=_task_command(world), headers={"X-API-Key": "zz-not-a-key"}
    )
    assert anonymous.status_code == 401
    assert "zz-not-a-key" not in anonymous.text
    assert (await http.get("/v1/contacts", headers={"X-API-Key": ""})).status_code == 401
    assert (await http.get("/v1/commands/unknown")).status_code == 404
    assert (await http.get("/v1/contacts?limit=0")).status_code == 422
    assert "cursor" in (await http.get("/v1/contacts?cursor=%%%")).json()["message"]


async def test_deeply_nested_and_undecodable_bodies_are_400_not_500(api: Api) -> None:
    world, http = api
    deep = b"[" * 50_000 + b"]" * 50_000
    nested_payload = json.dumps(_task_command(world))[:-1] + ', "x": ' + "[" * 40 + "]" * 40 + "}"
    bodies = {
        "50,000 deep": deep,
        "50,000 deep object": b'{"a":' * 30_000 + b"1" + b"}" * 30_000,
        "40 deep inside a command": nested_payload.encode(),
        "not UTF-8": b'{"command_id": "' + bytes([0xFF, 0xFE]) + b'"}',
        "NaN": b'{"command_id": NaN}',
    }
    for name, body in bodies.items():
        for path in ("/v1/commands", "/v1/commands/batch"):
            sent = body if path == "/v1/commands" else b'{"commands": [' + body + b"]}"
            response = await http.post(path, content=sent)
            assert response.status_code == 400, (name, path, response.text)
            assert response.json()["code"] == "invalid_json", (name, path)
    assert "recursion limit" in (await http.post("/v1/commands", content=deep)).text
    too_deep = await http.post("/v1/commands", content=bodies["40 deep inside a command"])
    assert "nested deeper than 32 levels" in too_deep.text
    assert (await http.post("/v1/commands", json=_task_command(world))).status_code == 202


async def test_the_unified_view_and_list_come_from_the_projections(api: Api) -> None:
    world, http = api
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = []
    for n in range(5):
        contact = Contact(
            id=f"c{n}", locationId="L1", firstName=f"F{n}", tags=["vip"] if n % 2 else ["lead"],
            assignedTo="u1" if n < 3 else "u2", dateUpdated=t0 + timedelta(days=n),
        )  # fmt: skip
        events.append(upserted("L1", contact, source="poll", observed_at=t0))
    task = Task(id="t1", contactId="c1", title="Call")
    note = Note(id="n1", contactId="c1", body="Hi")
    events += [upserted("L1", child, source="poll", observed_at=t0) for child in (task, note)]
    world.start_projections()
    await world.produce_events(events)
    await world.settle_projections()

    view = (await http.get("/v1/contacts/c1")).json()
    assert view["contact"]["firstName"] == "F1"
    assert view["tags"] == ["vip"]
    assert [t["id"] for t in view["tasks"]] == ["t1"]
    assert [n["id"] for n in view["notes"]] == ["n1"]
    assert view["appointments"] == []
    assert (await http.get("/v1/contacts/nobody")).status_code == 404

    vip = (await http.get("/v1/contacts", params={"tag": "vip"})).json()
    assert [i["contact"]["id"] for i in vip["items"]] == ["c1", "c3"]
    since = (
        await http.get("/v1/contacts", params={"updated_since": "2026-01-04T00:00:00Z"})
    ).json()
    assert [i["contact"]["id"] for i in since["items"]] == ["c3", "c4"]
    assigned = (await http.get("/v1/contacts", params={"assigned_to": "u2"})).json()
    assert [i["contact"]["id"] for i in assigned["items"]] == ["c3", "c4"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "location_id": "L1", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/contacts", params=params)).json()
        seen += [i["contact"]["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["c0", "c1", "c2", "c3", "c4"]


async def test_the_python_helper_submits_and_waits(api: Api) -> None:
    world, http = api
    transport = http._transport  # the same in-process app
    world.start_writer()
    async with CommandClient("http://api.test", api_key="x", transport=transport) as bad:
        with pytest.raises(Exception, match="401"):
            await bad.submit(_parse(_task_command(world)))
    from test_writeback_harness import API_KEY  # type: ignore[import-not-found]

    async with CommandClient("http://api.test", api_key=API_KEY, transport=transport) as client:
        command = _parse(_task_command(world))
        assert await client.submit(command) == command.command_id
        done = await client.wait(command.command_id)
        assert done["state"] == "succeeded"


def _parse(body: dict[str, Any]) -> Any:
    from schemas import decode_command

    return decode_command(json.dumps(body))


@pytest.fixture
def api(api_client: Api) -> Api:
    return api_client


async def test_a_batch_is_accepted_whole_or_refused_naming_the_item(api: Api) -> None:
    world, http = api
    bodies = [_task_command(world) for _ in range(50)]
    response = await http.post("/v1/commands/batch", json={"commands": bodies})
    assert response.status_code == 202, response.text
    assert response.json()["command_ids"] == [b["command_id"] for b in bodies]
    on_topic = await read_topic(world.bootstrap, world.topics.commands, settle=0.5)
    assert len(on_topic) == 50
    bad = [_task_command(world), {**_task_command(world), "payload": {"title": "x"}}]
    refused = await http.post("/v1/commands/batch", json={"commands": bad})
    assert refused.status_code == 422
    assert "commands[1]" in refused.json()["message"]
    assert "dueDate" in refused.json()["message"]
    assert (await http.post("/v1/commands/batch", json={"commands": []})).status_code == 422


async def test_a_command_kafka_never_confirmed_is_pending_then_failed_visibly(api: Api) -> None:
    world, http = api
    store = WriterStore(world.pool)
    body = _task_command(world)
    # What the API records before it produces: `pending`, never `accepted`, until Kafka acks.
    await store.record_accepted(
        [
            AcceptedRow(
                command_id=body["command_id"],
                location_id=body["location_id"],
                contact_id=body["contact_id"],
                command_type=body["command_type"],
                digest="d",
                command_json=json.dumps(body),
            )
        ]
    )
    assert (await http.get(f"/v1/commands/{body['command_id']}")).json()["state"] == "pending"
    assert body["command_id"] in {r.command_id for r in await store.pending(older_than=0, limit=9)}
    failed = await store.fail_unproduced(older_than=0, result_json=NOT_ON_TOPIC)
    assert body["command_id"] in failed
    status = (await http.get(f"/v1/commands/{body['command_id']}")).json()
    assert status["state"] == "failed"
    result = CommandResult.model_validate(status["result"])
    assert result.error is not None
    assert result.error.code == "not_on_topic"
    assert (result.command_id, result.location_id) == (body["command_id"], body["location_id"])
    # A late record of it is skipped like any terminal command: it is never applied.
    row = await store.claim(
        command_id=body["command_id"], location_id=body["location_id"],
        contact_id=body["contact_id"], command_type=body["command_type"], digest="d",
        command_json=json.dumps(body), partition=0, offset=0, submitted_at=None,
    )  # fmt: skip
    assert row.terminal
    assert row.state == "failed"
