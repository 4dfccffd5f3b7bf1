"""Command models: closed union, round trips, keys, digests, names in errors, GHL bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import (
    COMMAND_TYPES,
    CommandDecodeError,
    CreateContact,
    CreateTask,
    UpdateContact,
    command_digest,
    command_key,
    decode_command,
    encode_command,
)
from services.catalog import build_catalog
from services.ghl import requests as rq
from services.writer import SUPPORTED_OPERATIONS

DUE = "2026-05-01T10:00:00Z"
SAMPLES: dict[str, dict[str, Any]] = {
    "contact.create": {"payload": {"email": "a@b.c", "customFields": [{"key": "k"}]}},
    "contact.upsert": {"payload": {"phone": "+15550000001"}},
    "contact.update": {"contact_id": "c1", "expected_version": DUE, "payload": {"city": "X"}},
    "contact.delete": {"contact_id": "c1"},
    "contact.add_tags": {"contact_id": "c1", "payload": {"tags": ["a"]}},
    "contact.remove_tags": {"contact_id": "c1", "payload": {"tags": ["a"]}},
    "contact.add_followers": {"contact_id": "c1", "payload": {"followers": ["u"]}},
    "contact.remove_followers": {"contact_id": "c1", "payload": {"followers": ["u"]}},
    "contact.add_to_campaign": {"contact_id": "c1", "campaign_id": "k"},
    "contact.remove_from_campaign": {"contact_id": "c1", "campaign_id": "k"},
    "contact.remove_from_all_campaigns": {"contact_id": "c1"},
    "contact.add_to_workflow": {"contact_id": "c1", "workflow_id": "w"},
    "contact.remove_from_workflow": {"contact_id": "c1", "workflow_id": "w"},
    "contact.set_business": {"contact_id": "c1", "business_id": None},
    "task.create": {"contact_id": "c1", "payload": {"title": "t", "dueDate": DUE}},
    "task.update": {"contact_id": "c1", "task_id": "t1", "payload": {"completed": True}},
    "task.complete": {"contact_id": "c1", "task_id": "t1"},
    "task.delete": {"contact_id": "c1", "task_id": "t1"},
    "note.create": {"contact_id": "c1", "payload": {"body": "b"}},
    "note.update": {"contact_id": "c1", "note_id": "n1", "payload": {"pinned": True}},
    "note.delete": {"contact_id": "c1", "note_id": "n1"},
    "appointment.create": {"contact_id": "c1", "payload": {"calendarId": "k", "startTime": DUE}},
    "appointment.update": {"contact_id": "c1", "appointment_id": "a1", "payload": {"title": "x"}},
    "appointment.delete": {"contact_id": "c1", "appointment_id": "a1", "expected_version": DUE},
}  # fmt: skip
GHL_BODIES = {
    "ContactInput": rq.ContactCreate, "ContactChanges": rq.ContactUpdate,
    "TaskInput": rq.TaskCreate, "TaskChanges": rq.TaskUpdate, "NoteInput": rq.NoteCreate,
    "NoteChanges": rq.NoteUpdate, "AppointmentChanges": rq.AppointmentUpdate,
}  # fmt: skip


def _raw(command_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "command_id": "cmd-1",
        "command_type": command_type,
        "location_id": "L1",
        **SAMPLES[command_type],
        **extra,
    }


def test_every_command_type_has_a_sample_and_round_trips() -> None:
    assert set(SAMPLES) == set(COMMAND_TYPES)
    for command_type in COMMAND_TYPES:
        command = decode_command(json.dumps(_raw(command_type)))
        assert not isinstance(command, CommandDecodeError), (command_type, command)
        assert type(command) is COMMAND_TYPES[command_type]
        assert decode_command(encode_command(command)) == command


def test_payloads_are_valid_ghl_request_bodies() -> None:
    for command_type in COMMAND_TYPES:
        command = decode_command(json.dumps(_raw(command_type)))
        payload = getattr(command, "payload", None)
        model = GHL_BODIES.get(type(payload).__name__)
        if model is not None:
            model.model_validate(payload.to_ghl())


def test_payload_fields_are_fields_of_the_ghl_request_bodies() -> None:
    from schemas import commands

    for name, model in GHL_BODIES.items():
        ours = set(getattr(commands, name).model_fields)
        assert ours <= set(model.model_fields), (name, ours - set(model.model_fields))
    assert set(commands.AppointmentInput.model_fields) <= set(rq.AppointmentCreate.model_fields)


def test_keys_keep_one_contacts_commands_together() -> None:
    update = decode_command(json.dumps(_raw("contact.update")))
    task = decode_command(json.dumps(_raw("task.create", command_id="cmd-2")))
    assert command_key(update) == command_key(task) == "L1:c1"
    create = CreateContact(command_id="x", location_id="L1", payload={"email": "a@b.c"})
    assert command_key(create) == "L1:new:x"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"command_type": "nope"}, "unknown command_type 'nope'"),
        ({"command_type": "task.create", "contact_id": None}, "contact_id"),
        ({"command_type": "task.create", "payload": {"title": "t"}}, "payload.dueDate"),
        (
            {"command_type": "task.create", "payload": {"title": "t", "dueDate": "2026-01-01"}},
            "dueDate",
        ),
        ({"command_type": "task.delete", "expected_version": DUE}, "expected_version"),
        ({"command_type": "contact.create", "payload": {"firstName": "a"}}, "email` or `phone"),
        ({"command_type": "contact.update", "payload": {}}, "payload sets no field"),
        ({"command_type": "contact.add_tags", "payload": {"tags": []}}, "payload.tags"),
        ({"command_type": "task.create", "command_id": "has space"}, "command_id"),
        ({"command_type": "task.create", "bonus": 1}, "bonus"),
    ],
)
def test_invalid_commands_name_the_problem(raw: dict[str, Any], named: str) -> None:
    base = (
        _raw("task.create") if raw.get("command_type") not in SAMPLES else _raw(raw["command_type"])
    )
    body = {k: v for k, v in {**base, **raw}.items() if v is not None}
    decoded = decode_command(json.dumps(body))
    assert isinstance(decoded, CommandDecodeError)
    assert named in decoded.reason
    assert decoded.command_id == body.get("command_id")


def test_garbage_is_a_decode_error_not_an_exception() -> None:
    for data in (b"", b"[1]", b"{", b"null", "\ud800".encode("utf-8", "surrogatepass")):
        assert isinstance(decode_command(data), CommandDecodeError)


@given(st.text(min_size=1, max_size=40), st.datetimes(timezones=st.just(UTC)))
def test_digest_is_a_function_of_content(title: str, due: datetime) -> None:
    one = CreateTask(
        command_id="a", location_id="L", contact_id="c", payload={"title": title, "dueDate": due}
    )
    same = decode_command(encode_command(one))
    assert command_digest(one) == command_digest(same)  # type: ignore[arg-type]
    other = one.model_copy(
        update={"payload": one.payload.model_copy(update={"title": title + "!"})}
    )
    assert command_digest(one) != command_digest(other)


def test_the_catalog_marks_what_the_writer_applies() -> None:
    actions = {e.name: e for e in build_catalog(([], "")) if e.kind == "action"}
    assert {name for name, e in actions.items() if e.writer} == SUPPORTED_OPERATIONS
    assert not actions["get-contact"].writer
    assert not actions["create-association"].writer


def test_expected_version_is_aware_time() -> None:
    command = decode_command(json.dumps(_raw("contact.update")))
    assert isinstance(command, UpdateContact)
    assert command.expected_version == datetime(2026, 5, 1, 10, tzinfo=UTC)
