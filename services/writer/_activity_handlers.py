"""One handler per task, note and appointment command (`ACTIVITY_HANDLERS`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from schemas import AppointmentDeleted, CommandBase, Event, NoteDeleted, TaskDeleted
from schemas.commands import activities as commands
from services.ghl import requests as rq
from services.writer import _exactly_once as once
from services.writer import _lookups as lookups
from services.writer._context import WRITE, ApplyContext, HandlerEntry, handler
from services.writer._outcome import EntityKind, Outcome

__all__ = ["ACTIVITY_HANDLERS"]


async def _deleted(
    ctx: ApplyContext, cmd: CommandBase, kind: EntityKind, entity_id: str,
    call: Awaitable[bool], event: Callable[..., Event], **ids: str,
) -> Outcome:  # fmt: skip
    await once.delete(call)
    # `ids` names the record and its contact, as the deleted event's fields do.
    built = event(location_id=cmd.location_id, deleted_at=ctx.clock(), **ids, **ctx.meta(cmd))
    return ctx.done(cmd, kind, entity_id, None, [built])


async def _create_task(ctx: ApplyContext, cmd: commands.CreateTask) -> Outcome:
    c = ctx.client
    return await once.create(
        ctx, cmd,
        send=lambda: c.create_task(cmd.location_id, cmd.contact_id, cmd.payload, priority=WRITE),
        lookup=lambda _since: lookups.find_task(ctx, cmd),
    )  # fmt: skip


async def _update_task(ctx: ApplyContext, cmd: commands.UpdateTask) -> Outcome:
    c, loc = ctx.client, cmd.location_id
    task = await c.update_task(loc, cmd.contact_id, cmd.task_id, cmd.payload, priority=WRITE)
    return ctx.entity_done(cmd, task)


async def _complete_task(ctx: ApplyContext, cmd: commands.CompleteTask) -> Outcome:
    c, loc = ctx.client, cmd.location_id
    task = await c.complete_task(loc, cmd.contact_id, cmd.task_id, cmd.completed, priority=WRITE)
    return ctx.entity_done(cmd, task)


async def _delete_task(ctx: ApplyContext, cmd: commands.DeleteTask) -> Outcome:
    call = ctx.client.delete_task(cmd.location_id, cmd.contact_id, cmd.task_id, priority=WRITE)
    ids = {"task_id": cmd.task_id, "contact_id": cmd.contact_id}
    return await _deleted(ctx, cmd, "task", cmd.task_id, call, TaskDeleted.build, **ids)


async def _create_note(ctx: ApplyContext, cmd: commands.CreateNote) -> Outcome:
    c = ctx.client
    return await once.create(
        ctx, cmd,
        send=lambda: c.create_note(cmd.location_id, cmd.contact_id, cmd.payload, priority=WRITE),
        lookup=lambda _since: lookups.find_note(ctx, cmd),
    )  # fmt: skip


async def _update_note(ctx: ApplyContext, cmd: commands.UpdateNote) -> Outcome:
    c, loc = ctx.client, cmd.location_id
    note = await c.update_note(loc, cmd.contact_id, cmd.note_id, cmd.payload, priority=WRITE)
    return ctx.entity_done(cmd, note)


async def _delete_note(ctx: ApplyContext, cmd: commands.DeleteNote) -> Outcome:
    call = ctx.client.delete_note(cmd.location_id, cmd.contact_id, cmd.note_id, priority=WRITE)
    ids = {"note_id": cmd.note_id, "contact_id": cmd.contact_id}
    return await _deleted(ctx, cmd, "note", cmd.note_id, call, NoteDeleted.build, **ids)


async def _create_appointment(ctx: ApplyContext, cmd: commands.CreateAppointment) -> Outcome:
    # GHL's create body names the contact; the command holds it beside the payload.
    body = rq.AppointmentCreate.model_validate(
        {**cmd.payload.to_ghl(), "contactId": cmd.contact_id}
    )
    return await once.create(
        ctx, cmd,
        send=lambda: ctx.client.create_appointment(cmd.location_id, body, priority=WRITE),
        lookup=lambda _since: lookups.find_appointment(ctx, cmd),
    )  # fmt: skip


async def _update_appointment(ctx: ApplyContext, cmd: commands.UpdateAppointment) -> Outcome:
    appointment = await ctx.client.update_appointment(
        cmd.location_id, cmd.appointment_id, cmd.payload, priority=WRITE
    )
    return ctx.entity_done(cmd, appointment)


async def _delete_appointment(ctx: ApplyContext, cmd: commands.DeleteAppointment) -> Outcome:
    aid = cmd.appointment_id
    call = ctx.client.delete_appointment(cmd.location_id, aid, priority=WRITE)
    ids = {"appointment_id": aid, "contact_id": cmd.contact_id}
    return await _deleted(ctx, cmd, "appointment", aid, call, AppointmentDeleted.build, **ids)


ACTIVITY_HANDLERS: tuple[HandlerEntry, ...] = (
    handler(commands.CreateTask, "create-task", _create_task),
    handler(commands.UpdateTask, "update-task", _update_task),
    handler(commands.CompleteTask, "update-task-completed", _complete_task),
    handler(commands.DeleteTask, "delete-task", _delete_task),
    handler(commands.CreateNote, "create-note", _create_note),
    handler(commands.UpdateNote, "update-note", _update_note),
    handler(commands.DeleteNote, "delete-note", _delete_note),
    handler(commands.CreateAppointment, "create-appointment", _create_appointment),
    handler(commands.UpdateAppointment, "edit-appointment", _update_appointment),
    handler(commands.DeleteAppointment, "delete-event", _delete_appointment),
)
"""Task, note and appointment command class -> its GHL operation and handler."""
