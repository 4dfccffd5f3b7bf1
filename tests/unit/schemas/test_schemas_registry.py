"""The closed event registry: decode errors are values with reasons, encoding is compact."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from schemas import (
    CURRENT_SCHEMA_VERSIONS,
    EVENT_TYPES,
    Contact,
    ContactUpserted,
    EventDecodeError,
    EventType,
    decode_event,
    encode_event,
)

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def _valid() -> dict[str, Any]:
    event = ContactUpserted.build(
        location_id="loc1",
        contact=Contact(id="c1", email="a@example.com"),
        source="poll",
        observed_at=T0,
    )
    document: dict[str, Any] = json.loads(encode_event(event))
    return document


def _with(**changes: Any) -> bytes:
    return json.dumps({**_valid(), **changes}).encode()


def _without(field: str) -> bytes:
    document = _valid()
    del document[field]
    return json.dumps(document).encode()


def test_registry_is_closed_and_consistent() -> None:
    assert set(EVENT_TYPES) == set(get_args(EventType))
    for event_type, cls in EVENT_TYPES.items():
        assert cls.model_fields["event_type"].default == event_type
        entity_type = cls.model_fields["entity_type"].default
        assert event_type.split(".")[0] == entity_type
    assert CURRENT_SCHEMA_VERSIONS["appointment.upserted"] == 2
    assert {v for k, v in CURRENT_SCHEMA_VERSIONS.items() if k != "appointment.upserted"} == {1}


def test_encoding_is_compact_json_without_nulls() -> None:
    encoded = encode_event(ContactUpserted.model_validate_json(json.dumps(_valid())))
    assert b"\n" not in encoded
    assert b'", "' not in encoded
    document = json.loads(encoded)
    assert "correlation_id" not in document
    assert document["schema_version"] == 1
    assert None not in document["payload"].values()


def test_valid_document_decodes() -> None:
    assert isinstance(decode_event(json.dumps(_valid())), ContactUpserted)


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"\x00\x01 garbage", "not JSON"),
        (b"\xff\xfe\xfa", "not JSON"),
        ("", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"event_type": "\\udc00"}', "not JSON"),
        (b"[]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (_without("event_type"), "event_type"),
        (_with(event_type=5), "event_type"),
        (_with(event_type="contact.merged"), "unknown event_type 'contact.merged'"),
        (_with(event_type="schemas.registry.EVENT_TYPES"), "unknown event_type"),
        (_without("schema_version"), "schema_version"),
        (_with(schema_version="1"), "schema_version"),
        (_with(schema_version=True), "schema_version"),
        (_with(schema_version=99), "unknown schema_version 99"),
        (_with(schema_version=0), "unknown schema_version 0"),
        (_without("observed_at"), "observed_at: Field required"),
        (_without("payload"), "payload: Field required"),
        (_with(payload={"email": "a@example.com"}), "payload.id: Field required"),
        (_with(observed_at="2026-03-02T08:15:00"), "observed_at"),
        (_with(observed_at="yesterday"), "observed_at"),
        (_with(source="carrier pigeon"), "source"),
        (_with(entity_type="task"), "entity_type"),
        (_with(contact_id=""), "contact_id"),
        (_with(unexpected="x"), "unexpected: Extra inputs are not permitted"),
    ],
)
def test_bad_input_is_an_error_value(data: bytes | str, reason_part: str) -> None:
    result = decode_event(data)
    assert isinstance(result, EventDecodeError)
    assert reason_part in result.reason


def test_error_reports_type_and_version_when_known() -> None:
    result = decode_event(_without("payload"))
    assert result == EventDecodeError(
        reason="invalid fields: payload: Field required",
        event_type="contact.upserted",
        schema_version=1,
    )
    unknown = decode_event(_with(event_type="contact.merged"))
    assert isinstance(unknown, EventDecodeError)
    assert unknown.event_type == "contact.merged"
    assert unknown.schema_version is None


def test_many_failures_are_summarised() -> None:
    result = decode_event(b'{"event_type": "contact.upserted", "schema_version": 1}')
    assert isinstance(result, EventDecodeError)
    assert result.reason.startswith("invalid fields: event_id: Field required;")
    assert result.reason.endswith("more")
