"""The writer's exactly-once rules, in one place; the handlers call these for every effect.

1. Idempotent operations (update, upsert, delete, tags, completion, followers, removals) are
   repeated until GHL answers: repeating them cannot make a second effect. A delete answered
   "not found" succeeded earlier (or the record was already gone): `delete` returns normally.
2. Intent before create: before a create (contact, task, note, appointment) is sent,
   `phase = 'sent'` is committed (`create`). Look up before retry: a create found in that phase
   (after a crash, a timeout, a 5xx, a 429 or a 422) is looked up (`_lookups`) before it is
   sent again, and adopted when found; a record another command already created or adopted is
   never taken.
3. A create answered 400/422 is looked up the same way before it is declared failed (GHL
   issue #64: it may have been created).
4. Triggers GHL cannot be asked about (add to campaign, add to workflow) are sent at most
   once (`trigger`): a lost answer ends the command `failed` with code `outcome_unknown`.
5. 429, 5xx and timeouts raise `Retry`; validation, not-found and auth errors end the command
   `failed` with GHL's message (`error_outcome`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from schemas import CommandBase, CommandError
from schemas import ghl_errors as ghl
from services.writer._context import ApplyContext, Entity
from services.writer._outcome import Outcome
from services.writer.exceptions import Retry

__all__ = ["create", "delete", "error_outcome", "ghl_error", "trigger"]

_TERMINAL_CODES: tuple[tuple[type[ghl.GhlError], str], ...] = (
    (ghl.NotFound, "not_found"),
    (ghl.ValidationFailed, "validation"),
    (ghl.AuthError, "auth"),
)


def ghl_error(code: str, exc: ghl.GhlError) -> CommandError:
    """GHL's refusal as a command error: its status, messages and trace id."""
    messages = list(getattr(exc, "messages", ()) or ())
    text = "; ".join(messages) if messages else str(exc)
    return CommandError(
        code=code,
        message=text,
        status_code=exc.status_code,
        messages=messages,
        trace_id=exc.trace_id,
    )


def error_outcome(cmd: CommandBase, exc: ghl.GhlError) -> Outcome:
    """Rule 5: a retryable error raises `Retry`; a refusal is the command's failed outcome."""
    if isinstance(exc, ghl.RateLimited):
        raise Retry(str(exc), after=exc.retry_after) from exc
    if isinstance(exc, ghl.ServerError | ghl.TransportError):
        raise Retry(str(exc)) from exc
    for family, code in _TERMINAL_CODES:
        if isinstance(exc, family):
            return Outcome("failed", contact_id=cmd.target_contact_id, error=ghl_error(code, exc))
    raise exc


async def create(
    ctx: ApplyContext,
    cmd: CommandBase,
    *,
    send: Callable[[], Awaitable[Entity]],
    lookup: Callable[[datetime | None], Awaitable[Entity | None]],
) -> Outcome:
    """Rules 2 and 3: look up before a repeated send, commit the intent, send, look up a 422."""
    if ctx.row.phase == "sent":
        # A previous send may have created it: look before sending again.
        await asyncio.sleep(ctx.settings.lookup_delay)
        found = await lookup(ctx.row.first_sent_at)
        if found is not None:
            return _adopted(ctx, cmd, found)
    sent = await ctx.store.mark_sent(cmd.command_id)
    try:
        created = await send()
    except ghl.OutcomeUnknown as exc:
        raise Retry(f"outcome unknown, will look it up: {exc}") from exc
    except ghl.ValidationFailed as exc:
        found = await lookup(sent.first_sent_at)  # GHL issue #64
        if found is not None:
            return _adopted(ctx, cmd, found)
        return Outcome(
            "failed", contact_id=cmd.target_contact_id, error=ghl_error("validation", exc)
        )
    return ctx.entity_done(cmd, created)


def _adopted(ctx: ApplyContext, cmd: CommandBase, found: Entity) -> Outcome:
    outcome = ctx.entity_done(cmd, found)
    outcome.adopted = True
    return outcome


async def trigger(
    ctx: ApplyContext, cmd: CommandBase, send: Callable[[], Awaitable[bool]]
) -> Outcome:
    """Rule 4: sent at most once; a send that may have reached GHL is never repeated."""
    if ctx.row.phase == "sent":
        return Outcome(
            "failed",
            contact_id=cmd.target_contact_id,
            error=CommandError(
                code="outcome_unknown",
                message="the request may have reached GHL and GHL cannot be asked whether "
                "it did; not repeated (a trigger is sent at most once)",
            ),
        )
    await ctx.store.mark_sent(cmd.command_id)
    try:
        await send()
    except (ghl.OutcomeUnknown, ghl.ServerError, ghl.TransportError) as exc:
        raise Retry(f"trigger outcome unknown: {exc}") from exc
    return ctx.done(cmd, "contact", cmd.target_contact_id)


async def delete(call: Awaitable[bool]) -> None:
    """Rule 1 for deletes: "not found" means gone already (by an earlier attempt, or anyone)."""
    try:
        await call
    except ghl.NotFound:
        return
