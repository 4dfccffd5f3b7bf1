"""Upcasters: the frozen v1 `appointment.upserted` fixture upcasts and decodes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    CURRENT_SCHEMA_VERSIONS,
    UPCASTERS,
    AppointmentUpserted,
    EventDecodeError,
    decode_event,
    encode_event,
    upcast,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "events"
V1_APPOINTMENT = FIXTURES / "appointment.upserted.v1.json"


def _v1() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(V1_APPOINTMENT.read_text(encoding="utf-8"))
    return document


def test_fixture_is_the_old_nested_shape() -> None:
    document = _v1()
    assert (document["event_type"], document["schema_version"]) == ("appointment.upserted", 1)
    assert set(document["payload"]) == {"appointment"}


def test_v1_fixture_upcasts_and_decodes() -> None:
    event = decode_event(V1_APPOINTMENT.read_bytes())
    assert isinstance(event, AppointmentUpserted)
    assert event.schema_version == 2
    assert event.event_id == _v1()["event_id"], "upcasting never changes the event id"
    assert event.payload.id == "evt00000000000000001"
    assert event.payload.appointmentStatus == "cancelled"
    assert event.payload.locationId == "loc00000000000000001"
    assert event.version == datetime(2026, 3, 21, 10, 0, tzinfo=UTC)
    assert event.key == "loc00000000000000001:cId000000000000000001"
    # Once upcast, the event is written in the current shape.
    assert decode_event(encode_event(event)) == event


def test_upcast_is_pure() -> None:
    original = _v1()
    untouched = copy.deepcopy(original)
    upgraded = upcast(original)
    assert original == untouched
    assert upgraded["schema_version"] == 2
    assert upgraded["payload"]["calendarId"] == "cal00000000000000001"
    assert "appointment" not in upgraded["payload"]


def test_upcast_leaves_current_and_unknown_versions_alone() -> None:
    current = {"event_type": "contact.upserted", "schema_version": 1, "payload": {}}
    assert upcast(current) == current
    future = {**_v1(), "schema_version": 7}
    assert upcast(future) == future


def test_every_step_starts_below_the_current_version() -> None:
    for event_type, version in UPCASTERS:
        assert version < CURRENT_SCHEMA_VERSIONS[event_type]


@pytest.mark.parametrize(
    ("payload", "reason_part"),
    [
        ([], "payload is not an object"),
        ({"appointment": "evt1"}, "payload.appointment is not an object"),
        ({"appointment": {"id": "a"}, "locationId": "l"}, "unexpected payload keys ['locationId']"),
    ],
)
def test_broken_v1_is_an_error_value(payload: object, reason_part: str) -> None:
    result = decode_event(json.dumps({**_v1(), "payload": payload}))
    assert isinstance(result, EventDecodeError)
    assert result.reason.startswith("cannot upcast")
    assert reason_part in result.reason
    assert (result.event_type, result.schema_version) == ("appointment.upserted", 1)


def test_upcast_v1_that_fails_validation_names_the_field() -> None:
    result = decode_event(json.dumps({**_v1(), "payload": {"appointment": {"title": "x"}}}))
    assert isinstance(result, EventDecodeError)
    assert "payload.id: Field required" in result.reason
