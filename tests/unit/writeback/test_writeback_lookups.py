"""The writer's lookup matchers on plain values: which GHL record is the create we sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import (
    Appointment,
    AppointmentInput,
    Contact,
    ContactInput,
    Note,
    NoteInput,
    Task,
    TaskInput,
)
from services.writer._lookups import (
    contact_probes,
    earliest_created,
    is_our_contact,
    match_appointment,
    match_note,
    match_task,
)

T0 = datetime(2026, 5, 1, 10, tzinfo=UTC)


def test_contact_probes_search_by_email_then_phone() -> None:
    both = ContactInput(email="a@b.c", phone="+15550000001")
    assert contact_probes(both) == [{"email": "a@b.c"}, {"number": "+15550000001"}]
    assert contact_probes(ContactInput(phone="+1555")) == [{"number": "+1555"}]


def test_a_contact_older_than_our_first_send_is_not_ours() -> None:
    earliest = earliest_created(T0, T0 + timedelta(hours=1), skew=30)
    assert earliest == T0 - timedelta(seconds=30)
    assert earliest_created(None, T0, skew=30) == T0 - timedelta(seconds=30)
    ours = Contact(id="c1", dateAdded=T0)
    older = Contact(id="c2", dateAdded=T0 - timedelta(seconds=31))
    undated = Contact(id="c3")
    assert is_our_contact(ours, claimed=set(), earliest=earliest)
    assert not is_our_contact(older, claimed=set(), earliest=earliest)
    assert is_our_contact(undated, claimed=set(), earliest=earliest)
    assert not is_our_contact(ours, claimed={"c1"}, earliest=earliest)


def test_a_task_matches_on_title_and_due_date_and_a_given_body() -> None:
    want = TaskInput(title="Call", dueDate=T0)
    other_title = Task(id="t1", title="Mail", dueDate=T0)
    other_due = Task(id="t2", title="Call", dueDate=T0 + timedelta(days=1))
    claimed = Task(id="t3", title="Call", dueDate=T0)
    ours = Task(id="t4", title="Call", dueDate=T0, body="anything")
    tasks = [other_title, other_due, claimed, ours]
    assert match_task(tasks, want, {"t3"}) == ours
    assert match_task(tasks, want, set()) == claimed
    with_body = TaskInput(title="Call", dueDate=T0, body="exact")
    assert match_task(tasks, with_body, set()) is None
    assert match_task([], want, set()) is None


def test_a_note_matches_on_body_and_a_given_title() -> None:
    notes = [Note(id="n1", body="other"), Note(id="n2", body="hello", title="T")]
    assert match_note(notes, NoteInput(body="hello"), set()) == notes[1]
    assert match_note(notes, NoteInput(body="hello", title="T"), set()) == notes[1]
    assert match_note(notes, NoteInput(body="hello", title="U"), set()) is None
    assert match_note(notes, NoteInput(body="hello"), {"n2"}) is None


def test_an_appointment_matches_on_calendar_and_start_time() -> None:
    want = AppointmentInput(calendarId="cal", startTime=T0)
    appointments = [
        Appointment(id="a1", calendarId="other", startTime=T0),
        Appointment(id="a2", calendarId="cal", startTime=T0 + timedelta(minutes=30)),
        Appointment(id="a3", calendarId="cal", startTime=T0),
    ]
    assert match_appointment(appointments, want, set()) == appointments[2]
    assert match_appointment(appointments, want, {"a3"}) is None
