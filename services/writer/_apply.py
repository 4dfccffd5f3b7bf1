"""Applying one command to GHL: the calls, the exactly-once rules, the outcome and its events.

The rules (also in the README of this package):

1. Idempotent operations (update, upsert, delete, tags, completion, followers, removals) are
   repeated until GHL answers: repeating them cannot make a second effect. A delete answered
   "not found" succeeded earlier (or the record was already gone): the command succeeds.
2. Before a create (contact, task, note, appointment) is sent, `phase = 'sent'` is committed.
   A create found in that phase (after a crash, a timeout, a 5xx, a 429 or a 422) is looked
   up before it is sent again, and adopted when found:
   - contact: GHL's duplicate search by email, then by phone; the match must have been added
     no earlier than `created_skew_seconds` before our first send;
   - task: the contact's tasks with the same title and due date (and body, when given);
   - note: the contact's notes with the same body (and title, when given);
   - appointment: the contact's appointments with the same calendar and start time;
   in every case a record another command already created or adopted is never taken.
3. A create answered 400/422 is looked up the same way before it is declared failed (GHL
   issue #64: it may have been created).
4. Triggers GHL cannot be asked about (add to campaign, add to workflow) are sent at most
   once: a lost answer ends the command `failed` with code `outcome_unknown`.
5. 429, 5xx and timeouts raise `Retry`; validation, not-found and auth errors end the command
   `failed` with GHL's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from schemas import (
    AddContactFollowers,
    AddContactTags,
    AddContactToCampaign,
    AddContactToWorkflow,
    Appointment,
    AppointmentDeleted,
    AppointmentUpserted,
    CommandBase,
    CommandError,
    CompleteTask,
    Contact,
    ContactDeleted,
    ContactUpserted,
    CreateAppointment,
    CreateContact,
    CreateNote,
    CreateTask,
    DeleteAppointment,
    DeleteContact,
    DeleteNote,
    DeleteTask,
    Event,
    Note,
    NoteDeleted,
    NoteUpserted,
    RemoveContactFollowers,
    RemoveContactFromAllCampaigns,
    RemoveContactFromCampaign,
    RemoveContactFromWorkflow,
    RemoveContactTags,
    SetContactBusiness,
    Task,
    TaskDeleted,
    TaskUpserted,
    UpdateAppointment,
    UpdateContact,
    UpdateNote,
    UpdateTask,
    UpsertContact,
)
from services.ghl import (
    AuthError,
    GhlClient,
    GhlError,
    NotFound,
    OutcomeUnknown,
    Priority,
    RateLimited,
    ServerError,
    TransportError,
    ValidationFailed,
)
from services.ghl import requests as rq
from services.writer._conflicts import ConflictCheck, check_conflict
from services.writer._outcome import EntityKind, Outcome
from services.writer.exceptions import Retry
from services.writer.settings import WriterSettings
from services.writer.store import CommandRow, WriterStore

__all__ = ["Applier", "Outcome"]

_W = Priority.WRITE


def _now() -> datetime:
    return datetime.now(UTC)


def _error(code: str, exc: GhlError) -> CommandError:
    messages = list(getattr(exc, "messages", ()) or ())
    text = "; ".join(messages) if messages else str(exc)
    return CommandError(
        code=code,
        message=text,
        status_code=exc.status_code,
        messages=messages,
        trace_id=exc.trace_id,
    )


def _body(payload: BaseModel, model: type[BaseModel]) -> Any:
    # Command payloads use GHL's names; the client's request models check them once more.
    return model.model_validate(payload.model_dump(mode="json", exclude_none=True))


class Applier:
    """Applies commands through the GHL client at write priority."""

    def __init__(
        self,
        client: GhlClient,
        store: WriterStore,
        settings: WriterSettings,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._client = client
        self._store = store
        self._settings = settings
        self._clock = clock

    async def apply(self, command: CommandBase, row: CommandRow) -> Outcome:
        """The command's outcome; raises `Retry` when GHL must be asked again later."""
        try:
            check = await check_conflict(self._client, self._store, command, row, self._settings)
            if check.outcome is not None:
                return check.outcome
            outcome = await self._dispatch(command, row, check)
        except RateLimited as exc:
            raise Retry(str(exc), after=exc.retry_after) from exc
        except (ServerError, TransportError) as exc:
            raise Retry(str(exc)) from exc
        except NotFound as exc:
            return Outcome(
                "failed", contact_id=command.target_contact_id, error=_error("not_found", exc)
            )
        except ValidationFailed as exc:
            return Outcome(
                "failed", contact_id=command.target_contact_id, error=_error("validation", exc)
            )
        except AuthError as exc:
            return Outcome(
                "failed", contact_id=command.target_contact_id, error=_error("auth", exc)
            )
        if outcome.ghl_done_at is None:
            outcome.ghl_done_at = self._clock()
        if check.conflict is not None and outcome.conflict is None:
            outcome.conflict = check.conflict
        return outcome

    # -- dispatch ---------------------------------------------------------------------------

    async def _dispatch(self, cmd: CommandBase, row: CommandRow, check: ConflictCheck) -> Outcome:
        c = self._client
        loc = cmd.location_id
        if isinstance(cmd, CreateContact):
            contact_body = _body(cmd.payload, rq.ContactCreate)
            return await self._create(
                cmd, row, "contact",
                send=lambda: c.create_contact(loc, contact_body, priority=_W),
                lookup=lambda since: self._find_contact(cmd, since),
            )  # fmt: skip
        if isinstance(cmd, UpsertContact):
            upserted = await c.upsert_contact(
                loc, _body(cmd.payload, rq.ContactUpsert), priority=_W
            )
            return self._contact_done(cmd, upserted.contact)
        if isinstance(cmd, UpdateContact):
            payload = check.merged_payload if check.merged_payload is not None else cmd.payload
            contact = await c.update_contact(
                loc, cmd.contact_id, _body(payload, rq.ContactUpdate), priority=_W
            )
            return self._contact_done(cmd, contact)
        if isinstance(cmd, DeleteContact):
            await self._delete(c.delete_contact(loc, cmd.contact_id, priority=_W))
            event = ContactDeleted.build(
                location_id=loc, contact_id=cmd.contact_id, deleted_at=self._clock(),
                **self._meta(cmd),
            )  # fmt: skip
            return self._done(cmd, "contact", cmd.contact_id, None, [event])
        if isinstance(cmd, AddContactTags | RemoveContactTags):
            call = c.add_tags if isinstance(cmd, AddContactTags) else c.remove_tags
            await call(loc, cmd.contact_id, list(cmd.payload.tags), priority=_W)
            # The tag answer holds only the tags; one read gives the snapshot with GHL's time.
            contact = await c.get_contact(loc, cmd.contact_id, priority=_W)
            return self._contact_done(cmd, contact)
        if isinstance(cmd, AddContactFollowers | RemoveContactFollowers):
            call_f = c.add_followers if isinstance(cmd, AddContactFollowers) else c.remove_followers
            answer = await call_f(loc, cmd.contact_id, list(cmd.payload.followers), priority=_W)
            return self._done(cmd, "contact", cmd.contact_id, answer.model_dump(mode="json"), [])
        if isinstance(cmd, AddContactToCampaign):
            return await self._trigger(
                cmd,
                row,
                lambda: c.add_to_campaign(loc, cmd.contact_id, cmd.campaign_id, priority=_W),
            )
        if isinstance(cmd, AddContactToWorkflow):
            start = cmd.event_start_time.isoformat() if cmd.event_start_time else None
            return await self._trigger(
                cmd, row,
                lambda: c.add_to_workflow(
                    loc, cmd.contact_id, cmd.workflow_id, event_start_time=start, priority=_W
                ),
            )  # fmt: skip
        if isinstance(cmd, RemoveContactFromCampaign):
            await c.remove_from_campaign(loc, cmd.contact_id, cmd.campaign_id, priority=_W)
            return self._done(cmd, "contact", cmd.contact_id, None, [])
        if isinstance(cmd, RemoveContactFromAllCampaigns):
            await c.remove_from_all_campaigns(loc, cmd.contact_id, priority=_W)
            return self._done(cmd, "contact", cmd.contact_id, None, [])
        if isinstance(cmd, RemoveContactFromWorkflow):
            await c.remove_from_workflow(loc, cmd.contact_id, cmd.workflow_id, priority=_W)
            return self._done(cmd, "contact", cmd.contact_id, None, [])
        if isinstance(cmd, SetContactBusiness):
            answer_b = await c.bulk_update_business(
                loc, [cmd.contact_id], cmd.business_id, priority=_W
            )
            return self._done(cmd, "contact", cmd.contact_id, answer_b.model_dump(mode="json"), [])
        return await self._dispatch_activity(cmd, row)

    async def _dispatch_activity(self, cmd: CommandBase, row: CommandRow) -> Outcome:
        c = self._client
        loc = cmd.location_id
        if isinstance(cmd, CreateTask):
            task_body = _body(cmd.payload, rq.TaskCreate)
            return await self._create(
                cmd, row, "task",
                send=lambda: c.create_task(loc, cmd.contact_id, task_body, priority=_W),
                lookup=lambda since: self._find_task(cmd),
            )  # fmt: skip
        if isinstance(cmd, UpdateTask):
            task = await c.update_task(
                loc, cmd.contact_id, cmd.task_id, _body(cmd.payload, rq.TaskUpdate), priority=_W
            )
            return self._entity_done(cmd, task)
        if isinstance(cmd, CompleteTask):
            task = await c.complete_task(
                loc, cmd.contact_id, cmd.task_id, cmd.completed, priority=_W
            )
            return self._entity_done(cmd, task)
        if isinstance(cmd, DeleteTask):
            await self._delete(c.delete_task(loc, cmd.contact_id, cmd.task_id, priority=_W))
            event_t = TaskDeleted.build(
                location_id=loc, task_id=cmd.task_id, contact_id=cmd.contact_id,
                deleted_at=self._clock(), **self._meta(cmd),
            )  # fmt: skip
            return self._done(cmd, "task", cmd.task_id, None, [event_t])
        if isinstance(cmd, CreateNote):
            note_body = _body(cmd.payload, rq.NoteCreate)
            return await self._create(
                cmd, row, "note",
                send=lambda: c.create_note(loc, cmd.contact_id, note_body, priority=_W),
                lookup=lambda since: self._find_note(cmd),
            )  # fmt: skip
        if isinstance(cmd, UpdateNote):
            note = await c.update_note(
                loc, cmd.contact_id, cmd.note_id, _body(cmd.payload, rq.NoteUpdate), priority=_W
            )
            return self._entity_done(cmd, note)
        if isinstance(cmd, DeleteNote):
            await self._delete(c.delete_note(loc, cmd.contact_id, cmd.note_id, priority=_W))
            event_n = NoteDeleted.build(
                location_id=loc, note_id=cmd.note_id, contact_id=cmd.contact_id,
                deleted_at=self._clock(), **self._meta(cmd),
            )  # fmt: skip
            return self._done(cmd, "note", cmd.note_id, None, [event_n])
        if isinstance(cmd, CreateAppointment):
            body = rq.AppointmentCreate.model_validate(
                {
                    **cmd.payload.model_dump(mode="json", exclude_none=True),
                    "contactId": cmd.contact_id,
                }
            )
            return await self._create(
                cmd, row, "appointment",
                send=lambda: c.create_appointment(loc, body, priority=_W),
                lookup=lambda since: self._find_appointment(cmd),
            )  # fmt: skip
        if isinstance(cmd, UpdateAppointment):
            appt = await c.update_appointment(
                loc, cmd.appointment_id, _body(cmd.payload, rq.AppointmentUpdate), priority=_W
            )
            return self._entity_done(cmd, appt)
        if isinstance(cmd, DeleteAppointment):
            await self._delete(c.delete_appointment(loc, cmd.appointment_id, priority=_W))
            event_a = AppointmentDeleted.build(
                location_id=loc, appointment_id=cmd.appointment_id, contact_id=cmd.contact_id,
                deleted_at=self._clock(), **self._meta(cmd),
            )  # fmt: skip
            return self._done(cmd, "appointment", cmd.appointment_id, None, [event_a])
        raise TypeError(f"no handler for command type {cmd.command_type!r}")

    # -- creates and triggers ---------------------------------------------------------------

    async def _create(
        self,
        cmd: CommandBase,
        row: CommandRow,
        kind: EntityKind,
        *,
        send: Callable[[], Awaitable[Contact | Task | Note | Appointment]],
        lookup: Callable[[datetime | None], Awaitable[Contact | Task | Note | Appointment | None]],
    ) -> Outcome:
        if row.phase == "sent":
            # A previous send may have created it: look before sending again (rule 2).
            await asyncio.sleep(self._settings.lookup_delay)
            found = await lookup(row.first_sent_at)
            if found is not None:
                return self._adopted(cmd, found)
        sent = await self._store.mark_sent(cmd.command_id)
        try:
            created = await send()
        except OutcomeUnknown as exc:
            raise Retry(f"outcome unknown, will look it up: {exc}") from exc
        except RateLimited:
            raise
        except ValidationFailed as exc:
            found = await lookup(sent.first_sent_at)  # rule 3: GHL issue #64
            if found is not None:
                return self._adopted(cmd, found)
            return Outcome(
                "failed", contact_id=cmd.target_contact_id, error=_error("validation", exc)
            )
        if isinstance(created, Contact):
            return self._contact_done(cmd, created)
        return self._entity_done(cmd, created)

    def _adopted(self, cmd: CommandBase, found: Contact | Task | Note | Appointment) -> Outcome:
        outcome = (
            self._contact_done(cmd, found)
            if isinstance(found, Contact)
            else self._entity_done(cmd, found)
        )
        outcome.adopted = True
        return outcome

    async def _trigger(
        self, cmd: CommandBase, row: CommandRow, send: Callable[[], Awaitable[bool]]
    ) -> Outcome:
        if row.phase == "sent":
            return Outcome(
                "failed",
                contact_id=cmd.target_contact_id,
                error=CommandError(
                    code="outcome_unknown",
                    message="the request may have reached GHL and GHL cannot be asked whether "
                    "it did; not repeated (a trigger is sent at most once)",
                ),
            )
        await self._store.mark_sent(cmd.command_id)
        try:
            await send()
        except (OutcomeUnknown, ServerError, TransportError) as exc:
            raise Retry(f"trigger outcome unknown: {exc}") from exc
        return self._done(cmd, "contact", cmd.target_contact_id, None, [])

    async def _delete(self, call: Awaitable[bool]) -> None:
        try:
            await call
        except NotFound:
            return  # rule 1: gone already, by an earlier attempt of ours or by someone else

    # -- lookups ------------------------------------------------------------------------------

    async def _claimed(self, cmd: CommandBase, kind: str, contact_id: str | None) -> set[str]:
        return await self._store.claimed_entities(
            location_id=cmd.location_id,
            contact_id=contact_id,
            entity_type=kind,
            exclude=cmd.command_id,
        )

    async def _find_contact(self, cmd: CreateContact, since: datetime | None) -> Contact | None:
        claimed = await self._claimed(cmd, "contact", None)
        earliest = (since or self._clock()) - timedelta(seconds=self._settings.created_skew_seconds)
        payload = cmd.payload
        probes: list[dict[str, str]] = []
        if payload.email:
            probes.append({"email": payload.email})
        if payload.phone:
            probes.append({"number": payload.phone})
        for probe in probes:
            found = await self._client.get_duplicate_contact(cmd.location_id, priority=_W, **probe)
            if found is None or found.id in claimed:
                continue
            if found.dateAdded is not None and found.dateAdded < earliest:
                continue  # an older contact with the same email or phone: not ours
            if found.dateUpdated is None:
                found = await self._client.get_contact(cmd.location_id, found.id, priority=_W)
            return found
        return None

    async def _find_task(self, cmd: CreateTask) -> Task | None:
        claimed = await self._claimed(cmd, "task", cmd.contact_id)
        tasks = await self._client.list_tasks(cmd.location_id, cmd.contact_id, priority=_W)
        p = cmd.payload
        return _first(
            t
            for t in tasks
            if t.id not in claimed
            and t.title == p.title
            and t.dueDate == p.dueDate
            and (p.body is None or t.body == p.body)
        )

    async def _find_note(self, cmd: CreateNote) -> Note | None:
        claimed = await self._claimed(cmd, "note", cmd.contact_id)
        notes = await self._client.list_notes(cmd.location_id, cmd.contact_id, priority=_W)
        p = cmd.payload
        return _first(
            n
            for n in notes
            if n.id not in claimed and n.body == p.body and (p.title is None or n.title == p.title)
        )

    async def _find_appointment(self, cmd: CreateAppointment) -> Appointment | None:
        claimed = await self._claimed(cmd, "appointment", cmd.contact_id)
        appts = await self._client.list_contact_appointments(
            cmd.location_id, cmd.contact_id, priority=_W
        )
        p = cmd.payload
        return _first(
            a
            for a in appts
            if a.id not in claimed and a.calendarId == p.calendarId and a.startTime == p.startTime
        )

    # -- outcomes -----------------------------------------------------------------------------

    def _meta(self, cmd: CommandBase) -> dict[str, Any]:
        return {
            "source": "writer",
            "observed_at": self._clock(),
            "causation_id": cmd.command_id,
            "correlation_id": cmd.correlation_id or cmd.command_id,
        }

    def _done(
        self,
        cmd: CommandBase,
        kind: EntityKind,
        entity_id: str | None,
        snapshot: dict[str, Any] | None,
        events: Sequence[Event],
    ) -> Outcome:
        return Outcome(
            "succeeded",
            contact_id=cmd.target_contact_id if kind != "contact" else entity_id,
            entity_type=kind,
            entity_id=entity_id,
            snapshot=snapshot,
            events=list(events),
            ghl_done_at=self._clock(),
        )

    def _contact_done(self, cmd: CommandBase, contact: Contact) -> Outcome:
        event = ContactUpserted.build(
            location_id=cmd.location_id, contact=contact, **self._meta(cmd)
        )
        return self._done(
            cmd, "contact", contact.id, contact.model_dump(mode="json", exclude_none=True), [event]
        )

    def _entity_done(self, cmd: CommandBase, entity: Task | Note | Appointment) -> Outcome:
        contact_id = cmd.target_contact_id
        meta = self._meta(cmd)
        event: Event
        kind: EntityKind
        if isinstance(entity, Task):
            kind = "task"
            event = TaskUpserted.build(
                location_id=cmd.location_id, task=entity, contact_id=contact_id, **meta
            )
        elif isinstance(entity, Note):
            kind = "note"
            event = NoteUpserted.build(
                location_id=cmd.location_id, note=entity, contact_id=contact_id, **meta
            )
        else:
            kind = "appointment"
            event = AppointmentUpserted.build(
                location_id=cmd.location_id, appointment=entity, contact_id=contact_id, **meta
            )
        return self._done(
            cmd, kind, entity.id, entity.model_dump(mode="json", exclude_none=True), [event]
        )


_T = TypeVar("_T")


def _first(items: Iterable[_T]) -> _T | None:
    return next(iter(items), None)
