"""Canonical events: builders, deterministic ids, key and version, strictness, round-trips."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    EVENT_TYPES,
    Appointment,
    AppointmentDeleted,
    AppointmentUpserted,
    Contact,
    ContactDeleted,
    ContactUpserted,
    Event,
    EventDecodeError,
    EventEnvelope,
    MissingContactIdError,
    Note,
    NoteDeleted,
    NoteUpserted,
    Source,
    Task,
    TaskDeleted,
    TaskUpserted,
    decode_event,
    encode_event,
)

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# --- strategies ----------------------------------------------------------------------------

_ids = st.text(string.ascii_letters + string.digits, min_size=1, max_size=20)
_text = st.text(max_size=20)
_opt_text = st.none() | _text
_zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=7))]
)
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=_zones
)
_opt_time = st.none() | _times
_opt_bool = st.none() | st.booleans()
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
# Unknown keys GHL may add; the prefix keeps them apart from declared fields.
_extras = st.dictionaries(
    st.text(string.ascii_lowercase, min_size=1, max_size=8).map("x_".__add__), _json, max_size=2
)
_dnd_channel = st.none() | st.fixed_dictionaries(
    {"status": st.sampled_from(["active", "inactive", "permanent"])},
    optional={"message": _text, "code": _text},
)


def _entity(model: Any, fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    required = {"id": _ids}
    shape = st.fixed_dictionaries(required, optional=fields)
    return st.builds(lambda data, extra: model.model_validate({**data, **extra}), shape, _extras)


contacts = _entity(
    Contact,
    {
        "locationId": _opt_text,
        "firstName": _opt_text,
        "email": _opt_text,
        "phone": _opt_text,
        "type": _opt_text,
        "dnd": _opt_bool,
        "dndSettings": st.none()
        | st.fixed_dictionaries({}, optional={"SMS": _dnd_channel, "RCS": _dnd_channel}),
        "tags": st.none() | st.lists(_text, max_size=4),
        "customFields": st.none()
        | st.lists(st.fixed_dictionaries({"id": _ids, "value": _json}), max_size=3),
        "attachments": _json,
        "dateAdded": _opt_time,
        "dateUpdated": _opt_time,
    },
)
tasks = _entity(
    Task,
    {
        "title": _opt_text,
        "body": _opt_text,
        "dueDate": _opt_time,
        "completed": _opt_bool,
        "contactId": st.none() | _ids,
        "assignedTo": _opt_text,
        "dateAdded": _opt_time,
        "dateUpdated": _opt_time,
    },
)
notes = _entity(
    Note,
    {
        "body": _opt_text,
        "title": _opt_text,
        "pinned": _opt_bool,
        "contactId": st.none() | _ids,
        "dateAdded": _opt_time,
    },
)
appointments = _entity(
    Appointment,
    {
        "calendarId": _opt_text,
        "contactId": st.none() | _ids,
        "appointmentStatus": _opt_text,
        "users": st.none() | st.lists(_ids, max_size=3),
        "createdBy": st.none() | st.fixed_dictionaries({"source": _text}),
        "startTime": _opt_time,
        "endTime": _opt_time,
        "dateUpdated": _opt_time,
    },
)
contexts = st.fixed_dictionaries(
    {
        "location_id": _ids,
        "source": st.sampled_from(get_args(Source)),
        "observed_at": _times,
        "occurred_at": _opt_time,
        "causation_id": _opt_text,
        "correlation_id": _opt_text,
    }
)


def _deleted(cls: Any, id_name: str) -> st.SearchStrategy[Any]:
    def make(ctx: dict[str, Any], entity_id: str, contact_id: str, at: datetime | None) -> Any:
        extra = {} if cls is ContactDeleted else {"contact_id": contact_id}
        return cls.build(**ctx, **{id_name: entity_id}, **extra, deleted_at=at)

    return st.builds(make, contexts, _ids, _ids, _opt_time)


EVENT_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "contact.upserted": st.builds(
        lambda c, e: ContactUpserted.build(**c, contact=e), contexts, contacts
    ),
    "task.upserted": st.builds(
        lambda c, e, k: TaskUpserted.build(**c, task=e, contact_id=k), contexts, tasks, _ids
    ),
    "note.upserted": st.builds(
        lambda c, e, k: NoteUpserted.build(**c, note=e, contact_id=k), contexts, notes, _ids
    ),
    "appointment.upserted": st.builds(
        lambda c, e, k: AppointmentUpserted.build(**c, appointment=e, contact_id=k),
        contexts,
        appointments,
        _ids,
    ),
    "contact.deleted": _deleted(ContactDeleted, "contact_id"),
    "task.deleted": _deleted(TaskDeleted, "task_id"),
    "note.deleted": _deleted(NoteDeleted, "note_id"),
    "appointment.deleted": _deleted(AppointmentDeleted, "appointment_id"),
}

# --- round trips ---------------------------------------------------------------------------


def test_every_event_type_has_a_strategy() -> None:
    assert set(EVENT_STRATEGIES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@settings(database=None, deadline=None, max_examples=60)
@given(data=st.data())
def test_encode_decode_round_trip(event_type: str, data: st.DataObject) -> None:
    event: Event = data.draw(EVENT_STRATEGIES[event_type])
    assert event.event_type == event_type
    encoded = encode_event(event)
    decoded = decode_event(encoded)
    assert not isinstance(decoded, EventDecodeError), decoded.reason
    # The encoding leaves out nulls (absent means null), so an extra field GHL sent as null
    # comes back absent; every field with a value comes back equal.
    assert type(decoded) is type(event)
    assert decoded.model_dump(mode="json", exclude_none=True) == event.model_dump(
        mode="json", exclude_none=True
    )
    assert decoded.event_id == event.event_id
    assert encode_event(decoded) == encoded


# --- event ids -----------------------------------------------------------------------------


@settings(database=None, deadline=None, max_examples=60)
@given(contact=contacts, first=contexts, second=contexts)
def test_same_snapshot_same_id_whatever_the_observation(
    contact: Contact, first: dict[str, Any], second: dict[str, Any]
) -> None:
    second = {**second, "location_id": first["location_id"]}
    a = ContactUpserted.build(**first, contact=contact)
    b = ContactUpserted.build(**second, contact=contact)
    assert a.event_id == b.event_id


def test_same_snapshot_by_webhook_and_poll_gets_one_id() -> None:
    by_webhook = ContactUpserted.build(
        location_id="loc1",
        contact=Contact.model_validate(
            {"id": "c1", "email": "a@example.com", "dateAdded": "2026-01-10T12:00:00.000Z"}
        ),
        source="webhook",
        observed_at=T0,
        causation_id="wh1",
    )
    by_poll = ContactUpserted.build(
        location_id="loc1",
        # The same fact as epoch milliseconds, with an explicit null for an absent field.
        contact=Contact.model_validate(
            {"id": "c1", "email": "a@example.com", "dateAdded": 1768046400000, "phone": None}
        ),
        source="poll",
        observed_at=T1,
    )
    assert by_webhook.event_id == by_poll.event_id


@pytest.mark.parametrize(
    "change",
    [
        {"email": "b@example.com"},
        {"tags": ["vip"]},
        {"dateUpdated": "2026-03-02T08:15:01Z"},
        {"newKey": 1},
    ],
)
def test_changed_snapshot_changes_the_id(change: dict[str, Any]) -> None:
    base = {"id": "c1", "email": "a@example.com", "dateUpdated": "2026-03-02T08:15:00Z"}
    before = ContactUpserted.build(
        location_id="loc1", contact=Contact.model_validate(base), source="poll", observed_at=T0
    )
    after = ContactUpserted.build(
        location_id="loc1",
        contact=Contact.model_validate({**base, **change}),
        source="poll",
        observed_at=T0,
    )
    assert before.event_id != after.event_id


def test_id_depends_on_location_and_type() -> None:
    note = Note(id="n1", contactId="c1")
    here = NoteUpserted.build(location_id="loc1", note=note, source="poll", observed_at=T0)
    there = NoteUpserted.build(location_id="loc2", note=note, source="poll", observed_at=T0)
    gone = NoteDeleted.build(
        location_id="loc1", note_id="n1", contact_id="c1", source="poll", observed_at=T0
    )
    assert len({here.event_id, there.event_id, gone.event_id}) == 3


def test_tombstone_id_ignores_deletion_and_observation_times() -> None:
    seen_by_webhook = TaskDeleted.build(
        location_id="loc1",
        task_id="t1",
        contact_id="c1",
        source="webhook",
        observed_at=T0,
        deleted_at=T0,
    )
    seen_by_reconcile = TaskDeleted.build(
        location_id="loc1", task_id="t1", contact_id="c1", source="reconcile", observed_at=T1
    )
    assert seen_by_webhook.event_id == seen_by_reconcile.event_id


# --- envelope ------------------------------------------------------------------------------


def test_key_version_and_occurred_at() -> None:
    task = Task.model_validate(
        {"id": "t1", "contactId": "c1", "dateUpdated": "2026-03-02T08:15:00Z"}
    )
    event = TaskUpserted.build(location_id="loc1", task=task, source="poll", observed_at=T1)
    assert event.key == "loc1:c1"
    assert (event.entity_type, event.entity_id, event.schema_version) == ("task", "t1", 1)
    assert event.version == T0
    assert event.occurred_at == T0
    partial = TaskUpserted.build(
        location_id="loc1", task=Task(id="t2", contactId="c1"), source="webhook", observed_at=T1
    )
    assert partial.version == T1
    assert partial.occurred_at is None


def test_deleted_version_prefers_deleted_at() -> None:
    known = ContactDeleted.build(
        location_id="l", contact_id="c", source="webhook", observed_at=T1, deleted_at=T0
    )
    unknown = ContactDeleted.build(
        location_id="l", contact_id="c", source="reconcile", observed_at=T1
    )
    assert (known.version, known.occurred_at) == (T0, T0)
    assert (unknown.version, unknown.occurred_at) == (T1, None)
    assert known.key == "l:c"


def test_contact_falls_back_to_the_given_id_and_must_be_known() -> None:
    task = Task(id="t1")
    event = TaskUpserted.build(
        location_id="l", task=task, contact_id="c9", source="poll", observed_at=T0
    )
    assert event.contact_id == "c9"
    own = TaskUpserted.build(
        location_id="l",
        task=Task(id="t1", contactId="c1"),
        contact_id="c9",
        source="poll",
        observed_at=T0,
    )
    assert own.contact_id == "c1"
    with pytest.raises(MissingContactIdError, match="t1"):
        TaskUpserted.build(location_id="l", task=task, source="webhook", observed_at=T0)


def test_appointment_upserted_is_version_two() -> None:
    appointment = Appointment(id="a1", contactId="c1")
    event = AppointmentUpserted.build(
        location_id="l", appointment=appointment, source="poll", observed_at=T0
    )
    assert event.schema_version == 2


@pytest.mark.parametrize(
    "build",
    [
        lambda: ContactUpserted.build(
            location_id="l",
            contact=Contact(id="c"),
            source="poll",
            observed_at=datetime(2026, 1, 1),
        ),
        lambda: ContactUpserted.build(
            location_id="", contact=Contact(id="c"), source="poll", observed_at=T0
        ),
        lambda: ContactUpserted.build(
            location_id="l",
            contact=Contact(id="c"),
            source="guess",  # type: ignore[arg-type]
            observed_at=T0,
        ),
    ],
)
def test_envelope_is_strict(build: Callable[[], EventEnvelope]) -> None:
    with pytest.raises(ValidationError):
        build()


def test_events_are_frozen() -> None:
    event = ContactDeleted.build(location_id="l", contact_id="c", source="poll", observed_at=T0)
    with pytest.raises(ValidationError):
        event.source = "webhook"  # type: ignore[misc]
