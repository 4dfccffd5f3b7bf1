"""The writer against the simulator, with the real Kafka and PostgreSQL: every command type,
the exactly-once rules under the 422 trap, stalls and 5xx, dead letters, conflicts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from test_writeback_harness import (  # type: ignore[import-not-found]
    World,
    WorldFactory,
    read_topic,
    results_by_id,
    world_factory,
)

from schemas import (
    AddContactFollowers,
    AddContactTags,
    AddContactToCampaign,
    AddContactToWorkflow,
    CommandBase,
    CompleteTask,
    CreateAppointment,
    CreateContact,
    CreateNote,
    CreateTask,
    DeleteAppointment,
    DeleteContact,
    DeleteNote,
    DeleteTask,
    EventDecodeError,
    RemoveContactFromCampaign,
    RemoveContactTags,
    UpdateAppointment,
    UpdateContact,
    UpdateNote,
    UpdateTask,
    UpsertContact,
    decode_event,
)

pytestmark = pytest.mark.integration
__all__ = ["world_factory"]  # the fixture, imported so pytest finds it


def _id() -> str:
    return f"cmd-{uuid.uuid4().hex}"


@pytest.fixture
async def world(world_factory: WorldFactory) -> World:
    """A write-back world with its writer running."""
    world = await world_factory()
    world.start_writer()
    return world


async def _apply(world: World, commands: list[CommandBase]) -> dict[str, dict[str, Any]]:
    await world.produce(commands)
    await world.wait_terminal([c.command_id for c in commands])
    results = results_by_id(await read_topic(world.bootstrap, world.topics.command_results))
    return {c.command_id: results[c.command_id] for c in commands}


async def test_every_command_type_applies_and_publishes(world: World) -> None:
    loc, data = world.first_location()
    cid = data["contacts"][0]["id"]
    calendar = next(iter(data["calendars"]))
    due = datetime(2026, 5, 1, 15, tzinfo=UTC)

    def on_contact(kind: type[CommandBase], **fields: Any) -> CommandBase:
        return kind(command_id=_id(), location_id=loc, contact_id=cid, **fields)

    created = await _apply(
        world,
        [
            CreateContact(
                command_id=_id(),
                location_id=loc,
                payload={"firstName": "Ada", "email": "ada.wb@example.com"},
            ),
            on_contact(CreateTask, payload={"title": "Call", "dueDate": due}),
            on_contact(CreateNote, payload={"body": "Met at expo"}),
            on_contact(
                CreateAppointment,
                payload={
                    "calendarId": calendar,
                    "startTime": due,
                    "endTime": due + timedelta(minutes=30),
                    "title": "Demo",
                },
            ),
        ],
    )
    assert {r["state"] for r in created.values()} == {"succeeded"}, created
    new_contact, task, note, appt = (r["entity_id"] for r in created.values())
    commands: list[CommandBase] = [
        on_contact(UpdateContact, payload={"city": "Springfield"}),
        on_contact(AddContactTags, payload={"tags": ["vip", "wb"]}),
        on_contact(RemoveContactTags, payload={"tags": ["vip"]}),
        on_contact(AddContactFollowers, payload={"followers": [data["users"][0]]}),
        on_contact(AddContactToCampaign, campaign_id="camp1"),
        on_contact(RemoveContactFromCampaign, campaign_id="camp1"),
        on_contact(AddContactToWorkflow, workflow_id="wf1"),
        on_contact(UpdateTask, task_id=task, payload={"title": "Call back"}),
        on_contact(CompleteTask, task_id=task),
        on_contact(UpdateNote, note_id=note, payload={"body": "Met twice"}),
        on_contact(UpdateAppointment, appointment_id=appt, payload={"title": "Demo 2"}),
        UpsertContact(
            command_id=_id(),
            location_id=loc,
            payload={"email": "ada.wb@example.com", "lastName": "Lovelace"},
        ),
        on_contact(DeleteNote, note_id=note),
        on_contact(DeleteTask, task_id=task),
        on_contact(DeleteAppointment, appointment_id=appt),
        DeleteContact(command_id=_id(), location_id=loc, contact_id=new_contact),
    ]
    results = await _apply(world, commands)
    failed = {k: v for k, v in results.items() if v["state"] != "succeeded"}
    assert not failed, failed

    truth = (await world.truth())[loc]
    contact = next(c for c in truth["contacts"] if c["id"] == cid)
    assert contact["city"] == "Springfield"
    assert "wb" in contact["tags"]
    assert "vip" not in contact["tags"]
    assert truth["workflows"].get(cid) == ["wf1"]
    assert "camp1" not in truth["campaigns"].get(cid, [])
    assert new_contact in truth["deleted"]["contacts"]
    assert {task} <= set(truth["deleted"]["tasks"])
    assert {note} <= set(truth["deleted"]["notes"])

    events = [decode_event(r.value) for r in await read_topic(world.bootstrap, world.topics.events)]
    assert not [e for e in events if isinstance(e, EventDecodeError)]
    writer_events = [e for e in events if not isinstance(e, EventDecodeError)]
    assert {e.source for e in writer_events} == {"writer"}
    caused = {e.causation_id for e in writer_events}
    expected_with_events = [
        c.command_id for c in commands
        if c.command_type not in {"contact.add_followers", "contact.add_to_campaign",
                                  "contact.remove_from_campaign", "contact.add_to_workflow"}
    ]  # fmt: skip
    assert set(expected_with_events) <= caused
    for event in writer_events:
        assert event.correlation_id == event.causation_id


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_creates_happen_once_under_the_422_trap_stalls_and_5xx(world: World) -> None:
    succeeded_before = _sample("ghl_sync_writer_commands_total", state="succeeded")
    adopted_before = _sample("ghl_sync_writer_adopted_creates_total")
    loc, data = world.first_location()
    cid = data["contacts"][1]["id"]
    due = datetime(2026, 6, 1, tzinfo=UTC)
    rounds = [
        {"create_422_rate": 1.0},
        {"timeout_after_apply_rate": 0.5, "stall_seconds": 0.05},
        {"error_rate": 0.5},
        {"rate_limit_storm_rate": 0.3},
    ]
    before = (await world.truth())[loc]
    made: list[CommandBase] = []
    for n, faults in enumerate(rounds):
        await world.faults(**faults)
        batch: list[CommandBase] = [
            CreateContact(
                command_id=_id(),
                location_id=loc,
                payload={"email": f"trap{n}@example.com", "firstName": f"T{n}"},
            ),
            CreateTask(
                command_id=_id(),
                location_id=loc,
                contact_id=cid,
                payload={"title": f"Trap {n}", "dueDate": due},
            ),
            CreateNote(
                command_id=_id(),
                location_id=loc,
                contact_id=cid,
                payload={"body": f"Trap note {n}"},
            ),
        ]
        await world.produce(batch)
        states = await world.wait_terminal([c.command_id for c in batch])
        assert set(states.values()) == {"succeeded"}, (faults, states)
        made += batch
    await world.faults()
    after = (await world.truth())[loc]
    assert len(after["contacts"]) == len(before["contacts"]) + len(rounds)
    assert len(after["tasks"]) == len(before["tasks"]) + len(rounds)
    assert len(after["notes"]) == len(before["notes"]) + len(rounds)
    results = results_by_id(await read_topic(world.bootstrap, world.topics.command_results))
    assert all(results[c.command_id]["adopted"] for c in made[:3])  # every 422 was created
    entity_ids = [results[c.command_id]["entity_id"] for c in made]
    assert len(set(entity_ids)) == len(entity_ids)
    # The writer's metrics count what happened.
    succeeded = _sample("ghl_sync_writer_commands_total", state="succeeded")
    assert succeeded - succeeded_before == len(made)
    adopted = sum(1 for c in made if results[c.command_id]["adopted"])
    assert _sample("ghl_sync_writer_adopted_creates_total") - adopted_before == adopted


async def test_refused_commands_fail_with_ghl_message_and_go_to_dead_letters(world: World) -> None:
    loc, data = world.first_location()
    cid = data["contacts"][0]["id"]
    bad = UpdateContact(
        command_id=_id(), location_id=loc, contact_id=cid, payload={"email": "not-an-email"}
    )
    missing = UpdateTask(
        command_id=_id(), location_id=loc, contact_id=cid, task_id="nope", payload={"title": "x"}
    )
    results = await _apply(world, [bad, missing])
    assert results[bad.command_id]["state"] == "failed"
    assert results[bad.command_id]["error"]["code"] == "validation"
    assert "email must be an email" in results[bad.command_id]["error"]["message"]
    assert results[missing.command_id]["error"]["code"] == "not_found"
    letters = await read_topic(world.bootstrap, world.topics.commands_dead_letters)
    reasons = {json.loads(r.value)["command_id"]: dict(r.headers) for r in letters}
    assert set(reasons) == {bad.command_id, missing.command_id}
    assert b"email must be an email" in reasons[bad.command_id]["x-dead-letter-reason"]
    # The one dead-letter header set, then the writer's classification.
    assert reasons[bad.command_id]["x-source-topic"] == world.topics.commands.encode()
    assert reasons[missing.command_id]["x-dead-letter-code"] == b"not_found"


async def test_a_command_sent_twice_applies_once_and_a_reused_id_is_dead_lettered(
    world: World,
) -> None:
    loc, data = world.first_location()
    cid = data["contacts"][2]["id"]
    note = CreateNote(command_id=_id(), location_id=loc, contact_id=cid, payload={"body": "once"})
    reused = note.model_copy(update={"payload": note.payload.model_copy(update={"body": "x"})})
    await world.produce([note, note, reused])
    await world.wait_terminal([note.command_id])
    await world.produce([note])
    letters = []
    for _ in range(50):
        letters = await read_topic(world.bootstrap, world.topics.commands_dead_letters, settle=0.3)
        if letters:
            break
    assert [dict(r.headers)["x-dead-letter-code"] for r in letters] == [b"duplicate_id"]
    truth = (await world.truth())[loc]
    assert [n["body"] for n in truth["notes"] if n["contactId"] == cid].count("once") == 1


@pytest.mark.parametrize("policy", ["reject", "merge", "force"])
async def test_an_older_expected_version_is_a_conflict_handled_by_policy(
    world_factory: WorldFactory, policy: str
) -> None:
    world = await world_factory()
    world.start_writer(conflict_policy=policy)
    loc, data = world.first_location()
    contact = data["contacts"][3]
    cid = contact["id"]
    # GHL changed the contact after APPNAME read it: a tag added in GHL meanwhile.
    await world.client.add_tags(loc, cid, ["from-ghl"])
    stale = datetime.fromisoformat(contact["dateUpdated"]) - timedelta(seconds=1)
    command = UpdateContact(
        command_id=_id(), location_id=loc, contact_id=cid, expected_version=stale,
        payload={"city": "Shelbyville", "tags": ["from-app"]},
    )  # fmt: skip
    result = (await _apply(world, [command]))[command.command_id]
    truth = next(c for c in (await world.truth())[loc]["contacts"] if c["id"] == cid)
    recorded = await world.pool.fetchrow(
        "SELECT policy, resolution::text FROM writer_conflicts WHERE command_id = $1",
        command.command_id,
    )
    assert recorded is not None
    assert recorded["policy"] == policy
    assert result["conflict"]["policy"] == policy
    if policy == "reject":
        assert result["state"] == "rejected"
        assert result["error"]["code"] == "conflict"
        assert truth["city"] != "Shelbyville"
    elif policy == "merge":
        assert result["state"] == "succeeded"
        assert truth["city"] == "Shelbyville"
        assert {"from-ghl", "from-app"} <= set(truth["tags"])
    else:
        assert result["state"] == "succeeded"
        assert truth["tags"] == ["from-app"]
