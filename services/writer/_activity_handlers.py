"""One handler per task, note and appointment command (`ACTIVITY_HANDLERS`)."""

from __future__ import annotations

from schemas import (
    AppointmentDeleted,
    CompleteTask,
    CreateAppointment,
    CreateNote,
    CreateTask,
    DeleteAppointment,
    DeleteNote,
    DeleteTask,
    NoteDeleted,
    TaskDeleted,
    UpdateAppointment,
    UpdateNote,
    UpdateTask,
)
from services.ghl import requests as rq
from services.writer import _exactly_once as once
from services.writer import _lookups as lookups
from services.writer._context import WRITE, ApplyContext, HandlerEntry, handler
from services.writer._outcome import Outcome

__all__ = ["ACTIVITY_HANDLERS"]


async def _create_task(ctx: ApplyContext, cmd: CreateTask) -> Outcome:
    return await once.create(
        ctx,
        cmd,
        send=lambda: ctx.client.create_task(
            cmd.location_id, cmd.contact_id, cmd.payload, priority=WRITE
        ),
        lookup=lambda _since: lookups.find_task(ctx, cmd),
    )


async def _update_task(ctx: ApplyContext, cmd: UpdateTask) -> Outcome:
    task = await ctx.client.update_task(
        cmd.location_id, cmd.contact_id, cmd.task_id, cmd.payload, priority=WRITE
    )
    return ctx.entity_done(cmd, task)


async def _complete_task(ctx: ApplyContext, cmd: CompleteTask) -> Outcome:
    task = await ctx.client.complete_task(
        cmd.location_id, cmd.contact_id, cmd.task_id, cmd.completed, priority=WRITE
    )
    return ctx.entity_done(cmd, task)


async def _delete_task(ctx: ApplyContext, cmd: DeleteTask) -> Outcome:
    await once.delete(
        ctx.client.delete_task(cmd.location_id, cmd.contact_id, cmd.task_id, priority=WRITE)
    )
    event = TaskDeleted.build(
        location_id=cmd.location_id,
        task_id=cmd.task_id,
        contact_id=cmd.contact_id,
        deleted_at=ctx.clock(),
        **ctx.meta(cmd),
    )
    return ctx.done(cmd, "task", cmd.task_id, None, [event])


async def _create_note(ctx: ApplyContext, cmd: CreateNote) -> Outcome:
    return await once.create(
        ctx,
        cmd,
        send=lambda: ctx.client.create_note(
            cmd.location_id, cmd.contact_id, cmd.payload, priority=WRITE
        ),
        lookup=lambda _since: lookups.find_note(ctx, cmd),
    )


async def _update_note(ctx: ApplyContext, cmd: UpdateNote) -> Outcome:
    note = await ctx.client.update_note(
        cmd.location_id, cmd.contact_id, cmd.note_id, cmd.payload, priority=WRITE
    )
    return ctx.entity_done(cmd, note)


async def _delete_note(ctx: ApplyContext, cmd: DeleteNote) -> Outcome:
    await once.delete(
        ctx.client.delete_note(cmd.location_id, cmd.contact_id, cmd.note_id, priority=WRITE)
    )
    event = NoteDeleted.build(
        location_id=cmd.location_id,
        note_id=cmd.note_id,
        contact_id=cmd.contact_id,
        deleted_at=ctx.clock(),
        **ctx.meta(cmd),
    )
    return ctx.done(cmd, "note", cmd.note_id, None, [event])


async def _create_appointment(ctx: ApplyContext, cmd: CreateAppointment) -> Outcome:
    # GHL's create body names the contact; the command holds it beside the payload.
    body = rq.AppointmentCreate.model_validate(
        {**cmd.payload.to_ghl(), "contactId": cmd.contact_id}
    )
    return await once.create(
        ctx,
        cmd,
        send=lambda: ctx.client.create_appointment(cmd.location_id, body, priority=WRITE),
        lookup=lambda _since: lookups.find_appointment(ctx, cmd),
    )


async def _update_appointment(ctx: ApplyContext, cmd: UpdateAppointment) -> Outcome:
    appointment = await ctx.client.update_appointment(
        cmd.location_id, cmd.appointment_id, cmd.payload, priority=WRITE
    )
    return ctx.entity_done(cmd, appointment)


async def _delete_appointment(ctx: ApplyContext, cmd: DeleteAppointment) -> Outcome:
    await once.delete(
        ctx.client.delete_appointment(cmd.location_id, cmd.appointment_id, priority=WRITE)
    )
    event = AppointmentDeleted.build(
        location_id=cmd.location_id,
        appointment_id=cmd.appointment_id,
        contact_id=cmd.contact_id,
        deleted_at=ctx.clock(),
        **ctx.meta(cmd),
    )
    return ctx.done(cmd, "appointment", cmd.appointment_id, None, [event])


ACTIVITY_HANDLERS: tuple[HandlerEntry, ...] = (
    handler(CreateTask, "create-task", _create_task),
    handler(UpdateTask, "update-task", _update_task),
    handler(CompleteTask, "update-task-completed", _complete_task),
    handler(DeleteTask, "delete-task", _delete_task),
    handler(CreateNote, "create-note", _create_note),
    handler(UpdateNote, "update-note", _update_note),
    handler(DeleteNote, "delete-note", _delete_note),
    handler(CreateAppointment, "create-appointment", _create_appointment),
    handler(UpdateAppointment, "edit-appointment", _update_appointment),
    handler(DeleteAppointment, "delete-event", _delete_appointment),
)
"""Task, note and appointment command class -> its GHL operation and handler."""
