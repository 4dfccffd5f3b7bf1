"""Webhook bodies: GHL's documented examples parse, and bad bodies become error values.

The examples are read from GHL's docs snapshot in `$GHL_SPECS_DIR/webhooks/<Event>.json`
(default: the repository's `specs/ghl/openapi`). A missing folder fails the tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    WEBHOOK_MODELS,
    Appointment,
    AppointmentCreate,
    AppointmentWebhook,
    Contact,
    ContactUpdate,
    ContactWebhook,
    Note,
    NoteWebhook,
    Task,
    TaskComplete,
    TaskCreate,
    TaskWebhook,
    WebhookDecodeError,
    parse_webhook,
)

_DEFAULT_SPECS = Path(__file__).resolve().parents[3] / "specs" / "ghl" / "openapi"
SPECS_DIR = Path(os.environ.get("GHL_SPECS_DIR", str(_DEFAULT_SPECS)))
EVENTS = sorted(WEBHOOK_MODELS)
# GHL's docs show `type: "AppointmentCreate"` in these events' examples (a docs bug).
DOCS_TYPE_BUG = {"AppointmentUpdate", "AppointmentDelete"}


@cache
def _spec(event: str) -> dict[str, Any]:
    path = SPECS_DIR / "webhooks" / f"{event}.json"
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def test_specs_folder_exists() -> None:
    assert (SPECS_DIR / "webhooks").is_dir(), f"GHL specs not found under {SPECS_DIR}"


def test_registry_holds_the_fourteen_events() -> None:
    assert len(WEBHOOK_MODELS) == 14
    for name, model in WEBHOOK_MODELS.items():
        assert model.__name__ == name


@pytest.mark.parametrize("event", EVENTS)
def test_documented_examples_parse_with_the_files_model(event: str) -> None:
    spec = _spec(event)
    assert spec["event"] == event
    model = WEBHOOK_MODELS[event]
    assert spec["examples"], f"{event} has no examples"
    for example in spec["examples"]:
        payload = model.model_validate(example)
        assert isinstance(payload, model)
        assert payload.locationId == example["locationId"]
        entity = payload.entity()
        if isinstance(payload, AppointmentWebhook):
            assert isinstance(entity, Appointment)
            assert entity.id == example["appointment"]["id"]
            assert entity.locationId == example["locationId"]
        else:
            assert entity.id == example["id"]
            assert entity.model_extra == {}


@pytest.mark.parametrize("event", EVENTS)
def test_entity_methods_return_the_described_entity(event: str) -> None:
    payload = WEBHOOK_MODELS[event].model_validate(_spec(event)["examples"][0])
    if isinstance(payload, ContactWebhook):
        contact = payload.contact()
        assert isinstance(contact, Contact)
        assert contact.type is None, "the body's `type` is the event name, not the contact's"
        assert contact.locationId == payload.locationId
        assert contact.tags == payload.tags
    elif isinstance(payload, TaskWebhook):
        task = payload.task()
        assert isinstance(task, Task)
        assert task.dueDate is not None
        assert task.dueDate.tzinfo is not None
        assert "locationId" not in task.model_dump()
    elif isinstance(payload, NoteWebhook):
        note = payload.note()
        assert isinstance(note, Note)
        assert note.contactId == payload.contactId
    else:
        assert isinstance(payload, AppointmentWebhook)
        assert payload.entity().startTime is not None


@pytest.mark.parametrize("event", EVENTS)
def test_every_documented_field_is_declared(event: str) -> None:
    spec = _spec(event)
    model = WEBHOOK_MODELS[event]
    documented = set(spec["schema"]["properties"])
    assert documented <= set(model.model_fields)
    if "appointment" in documented:
        nested = set(spec["schema"]["properties"]["appointment"]["properties"])
        assert nested <= set(Appointment.model_fields)


@pytest.mark.parametrize("event", EVENTS)
def test_parse_webhook_dispatches_on_type(event: str) -> None:
    example = _spec(event)["examples"][0]
    parsed = parse_webhook(json.dumps(example).encode())
    expected = AppointmentCreate if event in DOCS_TYPE_BUG else WEBHOOK_MODELS[event]
    assert type(parsed) is expected


def test_docs_examples_with_the_wrong_type_still_parse_with_their_files_model() -> None:
    for event in DOCS_TYPE_BUG:
        example = _spec(event)["examples"][0]
        assert example["type"] == "AppointmentCreate"
        assert type(WEBHOOK_MODELS[event].model_validate(example)).__name__ == event


def test_unknown_fields_are_kept_through_to_the_entity() -> None:
    body = {
        "type": "ContactUpdate",
        "locationId": "loc1",
        "id": "c1",
        "brandNewField": {"a": [1, 2]},
    }
    parsed = parse_webhook(body)
    assert isinstance(parsed, ContactUpdate)
    assert parsed.model_extra == {"brandNewField": {"a": [1, 2]}}
    assert parsed.contact().model_extra == {"brandNewField": {"a": [1, 2]}}


def test_delivery_keys_are_parsed_and_left_out_of_the_entity() -> None:
    body = {
        "type": "NoteCreate",
        "locationId": "loc1",
        "id": "n1",
        "body": "hi",
        "webhookId": "wh1",
        "timestamp": "2026-03-02T08:15:00.000Z",
        "appId": "app1",
        "versionId": "v1",
    }
    parsed = parse_webhook(json.dumps(body).encode())
    assert isinstance(parsed, NoteWebhook)
    assert parsed.webhookId == "wh1"
    assert parsed.timestamp == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert parsed.note().model_dump(exclude_unset=True) == {"id": "n1", "body": "hi"}


def test_task_complete_means_completed() -> None:
    parsed = parse_webhook({"type": "TaskComplete", "locationId": "loc1", "id": "t1"})
    assert isinstance(parsed, TaskComplete)
    assert parsed.task().completed is True


def test_task_create_without_contact_id_parses() -> None:
    parsed = parse_webhook({"type": "TaskCreate", "locationId": "loc1", "id": "t1"})
    assert isinstance(parsed, TaskCreate)
    assert parsed.task().contactId is None


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"ContactCreate"', "not a JSON object"),
        (b'{"locationId": "l", "id": "c"}', "no 'type'"),
        (b'{"type": 7, "locationId": "l", "id": "c"}', "'type' is not a string"),
        (b'{"type": "AppInstall", "locationId": "l"}', "unknown webhook type 'AppInstall'"),
        (b'{"type": "ContactCreate", "locationId": "l"}', "id: Field required"),
        (b'{"type": "ContactCreate", "id": "c"}', "locationId: Field required"),
        (b'{"type": "ContactCreate", "locationId": "l", "id": "c", "tags": "x"}', "tags"),
        (b'{"type": "AppointmentCreate", "locationId": "l"}', "appointment: Field required"),
        (
            b'{"type": "AppointmentCreate", "locationId": "l", "appointment": {"id": "a"'
            b', "startTime": "soon"}}',
            "appointment.startTime",
        ),
        (b"[" * 100_000, "not JSON"),
        (b'{"type": "NoteCreate", "locationId": "l", "id": "n", "body": "\\ud800"}', "not JSON"),
        (b'{"type": "TaskCreate", "locationId": "l", "id": "t", "x": NaN}', "not JSON"),
    ],
)
def test_bad_bodies_become_error_values(body: bytes, reason_part: str) -> None:
    result = parse_webhook(body)
    assert isinstance(result, WebhookDecodeError)
    assert reason_part in result.reason


def test_error_names_the_event_type_when_known() -> None:
    result = parse_webhook({"type": "NoteCreate", "locationId": "l"})
    assert isinstance(result, WebhookDecodeError)
    assert result.event_type == "NoteCreate"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reason = "changed"  # type: ignore[misc]
