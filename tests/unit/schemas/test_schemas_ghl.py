"""GHL entities: GHL's shapes parse, unknown fields survive, only `id` is required."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import Appointment, Contact, CustomFieldValue, DndChannel, Note, Task

# Shapes of REFERENCE.md section 2.2 (placeholder values).
CONTACT: dict[str, Any] = {
    "id": "cId000000000000000001",
    "locationId": "loc00000000000000001",
    "name": "Ada Lovelace",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "phone": "+15550000001",
    "companyName": "Analytical Ltd",
    "address1": "1 Main St",
    "city": "Springfield",
    "state": "IL",
    "postalCode": "62701",
    "country": "US",
    "website": "https://example.com",
    "timezone": "America/Chicago",
    "dnd": False,
    "dndSettings": {"SMS": {"status": "inactive", "message": "", "code": ""}},
    "source": "public api",
    "assignedTo": "user0000000000000001",
    "tags": ["customer", "newsletter"],
    "customFields": [{"id": "cf000000000000000001", "value": "Gold"}],
    "businessId": "biz000000000000000001",
    "dateAdded": "2026-01-10T12:00:00.000Z",
    "dateUpdated": "2026-03-02T08:15:00.000Z",
}
TASK: dict[str, Any] = {
    "id": "task0000000000000001",
    "title": "Call back",
    "body": "Discuss renewal",
    "dueDate": "2026-04-01T15:00:00.000Z",
    "completed": False,
    "contactId": "cId000000000000000001",
    "assignedTo": "user0000000000000001",
}
NOTE: dict[str, Any] = {
    "id": "note0000000000000001",
    "body": "Met at expo",
    "title": "Follow-up summary",
    "color": "#FFAA00",
    "pinned": False,
    "userId": "user0000000000000001",
    "contactId": "cId000000000000000001",
    "dateAdded": "2026-03-02T08:15:00.000Z",
}
APPOINTMENT: dict[str, Any] = {
    "id": "evt00000000000000001",
    "calendarId": "cal00000000000000001",
    "locationId": "loc00000000000000001",
    "contactId": "cId000000000000000001",
    "groupId": "grp00000000000000001",
    "title": "Demo call",
    "appointmentStatus": "confirmed",
    "assignedUserId": "user0000000000000001",
    "users": ["user0000000000000001"],
    "address": "https://meet.example.com/abc",
    "notes": "",
    "startTime": "2026-04-01T15:00:00+00:00",
    "endTime": "2026-04-01T15:30:00+00:00",
    "dateAdded": "2026-03-20T10:00:00+00:00",
    "dateUpdated": "2026-03-20T10:00:00+00:00",
}


def test_contact_reference_shape() -> None:
    contact = Contact.model_validate(CONTACT)
    assert contact.tags == ["customer", "newsletter"]
    assert contact.customFields == [CustomFieldValue(id="cf000000000000000001", value="Gold")]
    assert contact.dndSettings is not None
    # The channel keys are GHL's upper-case names; bind them so ruff does not see constants.
    sms = contact.dndSettings.SMS
    assert sms == DndChannel(status="inactive", message="", code="")
    assert contact.dateUpdated == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert contact.model_extra == {}


def test_task_note_appointment_reference_shapes() -> None:
    task = Task.model_validate(TASK)
    assert task.dueDate == datetime(2026, 4, 1, 15, 0, tzinfo=UTC)
    assert task.completed is False
    assert task.dateAdded is None
    note = Note.model_validate(NOTE)
    assert note.pinned is False
    assert note.color == "#FFAA00"
    appointment = Appointment.model_validate(APPOINTMENT)
    assert appointment.users == ["user0000000000000001"]
    assert appointment.endTime == datetime(2026, 4, 1, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("model", [Contact, Task, Note, Appointment])
def test_only_id_is_required(model: type[Contact | Task | Note | Appointment]) -> None:
    assert model.model_validate({"id": "x1"}).id == "x1"
    with pytest.raises(ValidationError) as info:
        model.model_validate({})
    assert [error["loc"] for error in info.value.errors()] == [("id",)]


@pytest.mark.parametrize(
    ("model", "shape"),
    [(Contact, CONTACT), (Task, TASK), (Note, NOTE), (Appointment, APPOINTMENT)],
)
def test_unknown_fields_are_kept_and_dumped(
    model: type[Contact | Task | Note | Appointment], shape: dict[str, Any]
) -> None:
    added = {"brandNewField": {"nested": [1, "two", None]}, "anotherOne": 3.5}
    entity = model.model_validate({**shape, **added})
    assert entity.model_extra == added
    dumped = entity.model_dump(mode="json")
    assert dumped["brandNewField"] == added["brandNewField"]
    assert model.model_validate(dumped) == entity


def test_models_are_frozen() -> None:
    contact = Contact.model_validate(CONTACT)
    with pytest.raises(ValidationError):
        contact.email = "other@example.com"  # type: ignore[misc]


def test_dnd_settings_keep_new_channels_and_rcs() -> None:
    settings = {"RCS": {"status": "active"}, "Telepathy": {"status": "permanent"}}
    contact = Contact.model_validate({"id": "c1", "dndSettings": settings})
    assert contact.dndSettings is not None
    rcs = contact.dndSettings.RCS
    assert rcs == DndChannel(status="active")
    assert contact.dndSettings.model_extra == {"Telepathy": {"status": "permanent"}}


@pytest.mark.parametrize("value", ["Gold", 42, 4.5, ["a", "b"], {"url": "https://x"}, None])
def test_custom_field_values_of_every_field_type(value: object) -> None:
    contact = Contact.model_validate({"id": "c1", "customFields": [{"id": "cf1", "value": value}]})
    assert contact.customFields is not None
    assert contact.customFields[0].value == value


def test_attachments_may_be_text_or_list() -> None:
    assert Contact.model_validate({"id": "c1", "attachments": "a.pdf"}).attachments == "a.pdf"
    assert Contact.model_validate({"id": "c1", "attachments": []}).attachments == []


def test_numbers_in_text_fields_are_kept_as_text() -> None:
    contact = Contact.model_validate({"id": "c1", "postalCode": 62701})
    assert contact.postalCode == "62701"


def test_list_item_times_from_events_endpoint() -> None:
    # GetEventSchema's examples use `YYYY-MM-DD hh:mm:ss` without a zone.
    appointment = Appointment.model_validate({"id": "e1", "startTime": "2021-07-16 11:00:00"})
    assert appointment.startTime == datetime(2021, 7, 16, 11, 0, tzinfo=UTC)
