"""Finding a create GHL may already have applied (exactly-once rules 2 and 3, `_exactly_once`).

The matchers are pure: plain records in, the one that is ours (or `None`) out; the finders
fetch the candidates and the ids other commands already created or adopted (`claimed`, never
taken twice), and ask the matchers.

- contact: GHL's duplicate search by email, then by phone; the match must have been added no
  earlier than `created_skew_seconds` before our first send;
- task: the contact's tasks with the same title and due date (and body, when given);
- note: the contact's notes with the same body (and title, when given);
- appointment: the contact's appointments with the same calendar and start time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from schemas import (
    Appointment,
    AppointmentInput,
    CommandBase,
    Contact,
    ContactInput,
    CreateAppointment,
    CreateContact,
    CreateNote,
    CreateTask,
    Note,
    NoteInput,
    Task,
    TaskInput,
)
from services.writer._context import WRITE, ApplyContext

__all__ = [
    "contact_probes",
    "earliest_created",
    "find_appointment",
    "find_contact",
    "find_note",
    "find_task",
    "is_our_contact",
    "match_appointment",
    "match_note",
    "match_task",
]


# -- pure matchers --------------------------------------------------------------------------


def contact_probes(payload: ContactInput) -> list[dict[str, str]]:
    """The duplicate searches to make, in order: by email, then by phone."""
    probes: list[dict[str, str]] = []
    if payload.email:
        probes.append({"email": payload.email})
    if payload.phone:
        probes.append({"number": payload.phone})
    return probes


def earliest_created(first_sent_at: datetime | None, now: datetime, skew: float) -> datetime:
    """The earliest `dateAdded` a contact we created can have (GHL's clock may lag ours)."""
    return (first_sent_at or now) - timedelta(seconds=skew)


def is_our_contact(found: Contact, *, claimed: Collection[str], earliest: datetime) -> bool:
    """Whether a duplicate-search hit can be the contact our create made."""
    if found.id in claimed:
        return False
    # An older contact with the same email or phone is someone else's.
    return found.dateAdded is None or found.dateAdded >= earliest


def match_task(tasks: Iterable[Task], want: TaskInput, claimed: Collection[str]) -> Task | None:
    """The first unclaimed task with the same title and due date (and body, when given)."""
    for t in tasks:
        if (
            t.id not in claimed
            and t.title == want.title
            and t.dueDate == want.dueDate
            and (want.body is None or t.body == want.body)
        ):
            return t
    return None


def match_note(notes: Iterable[Note], want: NoteInput, claimed: Collection[str]) -> Note | None:
    """The first unclaimed note with the same body (and title, when given)."""
    for n in notes:
        if (
            n.id not in claimed
            and n.body == want.body
            and (want.title is None or n.title == want.title)
        ):
            return n
    return None


def match_appointment(
    appointments: Iterable[Appointment], want: AppointmentInput, claimed: Collection[str]
) -> Appointment | None:
    """The first unclaimed appointment on the same calendar at the same start time."""
    for a in appointments:
        if (
            a.id not in claimed
            and a.calendarId == want.calendarId
            and a.startTime == want.startTime
        ):
            return a
    return None


# -- finders --------------------------------------------------------------------------------


async def _claimed(
    ctx: ApplyContext, cmd: CommandBase, kind: str, contact_id: str | None
) -> set[str]:
    return await ctx.store.claimed_entities(
        location_id=cmd.location_id, contact_id=contact_id, entity_type=kind, exclude=cmd.command_id
    )


async def find_contact(
    ctx: ApplyContext, cmd: CreateContact, first_sent_at: datetime | None
) -> Contact | None:
    """The contact our earlier send of `cmd` created, if GHL's duplicate search finds it."""
    claimed = await _claimed(ctx, cmd, "contact", None)
    earliest = earliest_created(first_sent_at, ctx.clock(), ctx.settings.created_skew_seconds)
    for probe in contact_probes(cmd.payload):
        found = await ctx.client.get_duplicate_contact(cmd.location_id, priority=WRITE, **probe)
        if found is None or not is_our_contact(found, claimed=claimed, earliest=earliest):
            continue
        if found.dateUpdated is None:  # the search answer is partial; the snapshot needs it
            found = await ctx.client.get_contact(cmd.location_id, found.id, priority=WRITE)
        return found
    return None


async def find_task(ctx: ApplyContext, cmd: CreateTask) -> Task | None:
    """The task our earlier send of `cmd` created, if the contact's tasks hold it."""
    claimed = await _claimed(ctx, cmd, "task", cmd.contact_id)
    tasks = await ctx.client.list_tasks(cmd.location_id, cmd.contact_id, priority=WRITE)
    return match_task(tasks, cmd.payload, claimed)


async def find_note(ctx: ApplyContext, cmd: CreateNote) -> Note | None:
    """The note our earlier send of `cmd` created, if the contact's notes hold it."""
    claimed = await _claimed(ctx, cmd, "note", cmd.contact_id)
    notes = await ctx.client.list_notes(cmd.location_id, cmd.contact_id, priority=WRITE)
    return match_note(notes, cmd.payload, claimed)


async def find_appointment(ctx: ApplyContext, cmd: CreateAppointment) -> Appointment | None:
    """The appointment our earlier send of `cmd` created, if the contact's appointments hold it."""
    claimed = await _claimed(ctx, cmd, "appointment", cmd.contact_id)
    appointments = await ctx.client.list_contact_appointments(
        cmd.location_id, cmd.contact_id, priority=WRITE
    )
    return match_appointment(appointments, cmd.payload, claimed)
