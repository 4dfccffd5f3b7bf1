"""The fast decoder agrees with the models on every event type, valid or not.

The fast decoder either accepts an event (and then the models must accept it and make the
same row) or leaves it to the models; it never rejects, so the dead-lettered events are the
models' rejections. Hypothesis mutates events of all eight types field by field (values of
every JSON type, time spellings, removed and added keys) and checks both halves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from schemas import (
    EVENT_TYPES,
    Appointment,
    AppointmentCreatedBy,
    AppointmentDeleted,
    AppointmentUpserted,
    AttributionSource,
    Contact,
    ContactDeleted,
    ContactUpserted,
    CustomFieldValue,
    DndChannel,
    DndSettings,
    EventDecodeError,
    Note,
    NoteDeleted,
    NoteUpserted,
    Task,
    TaskDeleted,
    TaskUpserted,
    decode_event,
    encode_event,
)
from streams.projections import fastpath
from streams.projections.fastpath import decode, decode_fast, newest_rows, row_of
from streams.projections.rows import newest_rows as model_newest_rows
from streams.projections.rows import row_for
from tests.factories import T0, encoded, event_stream, histories

AT = T0 + timedelta(hours=1)


def _base_events() -> list[bytes]:
    """One event of each of the eight types, with nested objects and unknown keys."""
    contact = Contact(
        id="c1", locationId="loc1", firstName="Ann", lastName="Lee", email="a@example.com",
        phone="+15550001", tags=["vip", "lead"], dnd=False, dateAdded=T0, dateUpdated=AT,
        dndSettings=DndSettings(SMS=DndChannel(status="active", code="x")),
        customFields=[CustomFieldValue(id="f1", value=[1, "a"]), CustomFieldValue(id="f2")],
        attributionSource=AttributionSource(url="https://example.com", utmSource="g"),
        attachments=[{"name": "a.pdf"}], companyName="Acme",
    ).model_copy(update={"newKey": {"nested": [1, 2.5, True]}})  # fmt: skip
    task = Task(
        id="t1", title="Call", body="b", contactId="c1", completed=True, assignedTo="u1",
        dueDate=T0 + timedelta(days=1), dateAdded=T0, dateUpdated=AT,
    )  # fmt: skip
    note = Note(id="n1", body="hello", contactId="c1", userId="u1", pinned=True, dateAdded=T0)
    appointment = Appointment(
        id="a1", contactId="c1", calendarId="cal", title="Demo", status="booked",
        appointmentStatus="confirmed", assignedUserId="u1", users=["u1"], startTime=T0,
        endTime=T0 + timedelta(minutes=30), dateUpdated=AT,
        createdBy=AppointmentCreatedBy(userId="u1", source="app"),
    )  # fmt: skip
    common: dict[str, Any] = {"location_id": "loc1", "source": "webhook", "observed_at": AT}
    events = [
        ContactUpserted.build(contact=contact, causation_id="w1", correlation_id="k", **common),
        ContactDeleted.build(contact_id="c1", deleted_at=AT, **common),
        TaskUpserted.build(task=task, **common),
        TaskDeleted.build(task_id="t1", contact_id="c1", **common),
        NoteUpserted.build(note=note, **common),
        NoteDeleted.build(note_id="n1", contact_id="c1", **common),
        AppointmentUpserted.build(appointment=appointment, **common),
        AppointmentDeleted.build(appointment_id="a1", contact_id="c1", deleted_at=T0, **common),
    ]
    assert {e.event_type for e in events} == set(EVENT_TYPES)
    return [encode_event(e) for e in events]  # type: ignore[arg-type]


BASE = _base_events()

_TIMEZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)),
     timezone(timedelta(hours=23, minutes=59)), timezone(timedelta(seconds=-30))]
)  # fmt: skip


@st.composite
def time_spellings(draw: st.DrawFn) -> Any:
    """A time spelt in one of the ways GHL, pydantic or a careless producer write it."""
    moment = draw(st.datetimes(timezones=_TIMEZONES | st.none()))
    style = draw(st.integers(0, 6))
    if style == 0:
        return moment.isoformat()
    if style == 1:
        return moment.isoformat().replace("+00:00", "Z")
    if style == 2:
        return TypeAdapter(datetime).dump_python(moment, mode="json")
    if style == 3:
        return moment.isoformat(sep=" ", timespec="milliseconds")
    if style == 4:
        return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)
    if style == 5:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from(["Z", "+0000", "z"]))
    return draw(st.sampled_from(["", " ", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z"]))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
values = (
    json_values
    | time_spellings()
    | st.sampled_from([1, 2, "contact", "poll", "contact.upserted", "x", "\ud800", "é"])
)


def _paths(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [(k,) for k in doc]
    for key, inner in doc["payload"].items():
        paths.append(("payload", key))
        if isinstance(inner, dict):
            paths.extend(("payload", key, k) for k in inner)
        if isinstance(inner, list) and inner and isinstance(inner[0], dict):
            paths.extend(("payload", key, "0", k) for k in inner[0])
    return paths


def _container(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """An event of any type with one to three fields changed, removed or added."""
    doc = json.loads(draw(st.sampled_from(BASE)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        holder = _container(doc, path)
        action = draw(st.sampled_from(["set", "set", "set", "drop", "add"]))
        if action == "drop":
            holder.pop(path[-1], None)
        elif action == "add":
            holder[draw(st.text(max_size=12) | st.sampled_from(["extra", "payload", "id"]))] = draw(
                values
            )
        else:
            holder[path[-1]] = draw(values)
        if not isinstance(doc.get("payload"), dict):
            break
    dumped = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    return dumped.encode("utf-8", "surrogatepass")


def _typed(value: Any) -> Any:
    # `1 == True` in Python, and a datetime equals the same instant in another zone: compare
    # types and offsets too.
    if isinstance(value, datetime):
        return ("datetime", value, value.utcoffset())
    return (type(value).__name__, value)


def _same_row(fast_row: Any, model_row: Any) -> None:
    assert fast_row._replace(data="", columns={}) == model_row._replace(data="", columns={})
    assert {k: _typed(v) for k, v in fast_row.columns.items()} == {
        k: _typed(v) for k, v in model_row.columns.items()
    }
    assert [type(t) for t in fast_row.tags] == [type(t) for t in model_row.tags]
    # The row's JSONB: the same document, numbers and booleans told apart.
    assert json.dumps(json.loads(fast_row.data), sort_keys=True) == json.dumps(
        json.loads(model_row.data), sort_keys=True
    )


def _agree(raw: bytes) -> bool:
    fast = decode_fast(raw)
    model = decode_event(raw)
    if fast is not None:
        assert not isinstance(model, EventDecodeError), (raw, model)
        _same_row(row_of(fast), row_for(model))
    # What decode() hands to the store rejects exactly what the models reject, for the same reason.
    combined = decode(raw)
    assert isinstance(combined, EventDecodeError) == isinstance(model, EventDecodeError)
    if isinstance(model, EventDecodeError):
        assert combined == model
    return fast is not None


def test_the_fast_decoder_takes_every_event_of_each_type_as_the_encoder_writes_it() -> None:
    for raw in BASE:
        assert _agree(raw), raw


def test_the_fast_decoder_takes_the_benchmark_mix_and_makes_the_models_rows() -> None:
    events = list(event_stream(3000))
    values_, _ = encoded(events)
    assert all(_agree(raw) for raw in values_)
    fast_events = [decode_fast(raw) for raw in values_]
    fast_rows = newest_rows([e for e in fast_events if e is not None])
    model_rows = model_newest_rows(events)
    assert fast_rows.keys() == model_rows.keys()
    for key, row in model_rows.items():
        _same_row(fast_rows[key], row)


def _with(raw: bytes, **payload: Any) -> bytes:
    doc = json.loads(raw)
    doc["payload"].update(payload)
    return json.dumps(doc).encode()


def test_a_null_anywhere_takes_the_models_path_and_the_text_null_does_not() -> None:
    for payload in ({"unknown": None}, {"unknown": {"a": [1, None]}}, {"attachments": [None]}):
        raw = _with(BASE[0], **payload)
        assert decode_fast(raw) is None, payload
        assert _agree(raw) is False
    raw = _with(BASE[0], firstName="null", unknown=["null", 1.5, -2, {"x": True}, []])
    assert decode_fast(raw) is not None
    assert _agree(raw)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
@example(_with(BASE[0], unknown=None))
@example(_with(BASE[0], attachments=[None, {"a": None}]))
@example(_with(BASE[0], unknown={"a": [1, None]}))
@example(_with(BASE[0], unknown=[1, 2.5, True, "x", {"b": False}, [], {}]))
@example(_with(BASE[0], firstName="null", unknown="null"))
@example(_with(BASE[2], title=None))
@example(b'{"event_type": "note.upserted", "event_id": "\\ud800"}')
@example(_with(BASE[0], firstName="\ud800").decode().replace("\\\\", "\\").encode())
@example(_with(BASE[0], dnd=1))
@example(_with(BASE[0], phone=5551234))
def test_a_mutated_event_is_accepted_only_when_the_models_accept_it_with_the_same_row(
    raw: bytes,
) -> None:
    _agree(raw)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(BASE), st.sampled_from(["observed_at", "occurred_at"]), time_spellings())
def test_envelope_times_are_taken_only_as_pydantic_reads_them(
    raw: bytes, field: str, spelling: Any
) -> None:
    doc = json.loads(raw)
    doc[field] = spelling
    _agree(json.dumps(doc).encode())


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(BASE[::2]), st.sampled_from(["dateUpdated", "dateAdded"]), time_spellings())
def test_payload_times_are_taken_only_as_pydantic_writes_them_back(
    raw: bytes, field: str, spelling: Any
) -> None:
    doc = json.loads(raw)
    doc["payload"][field] = spelling
    _agree(json.dumps(doc).encode())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
def test_histories_take_the_fast_path_and_pick_the_same_newest_rows(events: list[Any]) -> None:
    raws = [encode_event(e) for e in events]
    fast = [decode_fast(r) for r in raws]
    assert all(f is not None for f in fast)
    assume(events)
    rows = newest_rows([f for f in fast if f is not None])
    expected = model_newest_rows(events)
    assert rows.keys() == expected.keys()
    for key, row in expected.items():
        _same_row(rows[key], row)


def test_a_model_field_of_a_type_the_fast_decoder_does_not_know_fails_at_import() -> None:
    from pydantic import BaseModel, ConfigDict

    class Odd(BaseModel):
        model_config = ConfigDict(extra="allow")
        id: str
        count: int | None = None

    with pytest.raises(TypeError, match=r"Odd\.count"):
        fastpath._table(Odd)


_TWENTY = "2026-01-02T03:04:05Z"
"""The shape the fast decoder reads without its pattern: a second-resolution UTC time."""


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(BASE[::2]),
    st.sampled_from(["observed_at", "dateUpdated", "dateAdded"]),
    st.integers(0, len(_TWENTY) - 1),
    st.sampled_from(["0", "9", "-", ":", "T", "t", " ", "/", "Z", "z", "+", ".", "\u0662", "é"])
    | st.characters(),
)
def test_twenty_character_times_are_taken_only_as_the_models_take_them(
    raw: bytes, field: str, position: int, char: str
) -> None:
    spelling = _TWENTY[:position] + char + _TWENTY[position + 1 :]
    doc = json.loads(raw)
    (doc if field == "observed_at" else doc["payload"])[field] = spelling
    _agree(json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))
