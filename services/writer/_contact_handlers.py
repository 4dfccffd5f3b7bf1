"""One handler per contact command (`CONTACT_HANDLERS`); the rules are in `_exactly_once`."""

from __future__ import annotations

from collections.abc import Awaitable

from pydantic import BaseModel

from schemas import CommandBase, ContactDeleted
from schemas.commands import contact as commands
from services.ghl import requests as rq
from services.writer import _exactly_once as once
from services.writer import _lookups as lookups
from services.writer._context import WRITE, ApplyContext, HandlerEntry, handler
from services.writer._outcome import Outcome

__all__ = ["CONTACT_HANDLERS"]


async def _create(ctx: ApplyContext, cmd: commands.CreateContact) -> Outcome:
    return await once.create(
        ctx,
        cmd,
        send=lambda: ctx.client.create_contact(cmd.location_id, cmd.payload, priority=WRITE),
        lookup=lambda since: lookups.find_contact(ctx, cmd, since),
    )


async def _upsert(ctx: ApplyContext, cmd: commands.UpsertContact) -> Outcome:
    body = rq.ContactUpsert.model_validate(cmd.payload.to_ghl())  # the upsert body adds a flag
    upserted = await ctx.client.upsert_contact(cmd.location_id, body, priority=WRITE)
    return ctx.entity_done(cmd, upserted.contact)


async def _update(ctx: ApplyContext, cmd: commands.UpdateContact) -> Outcome:
    merged = ctx.check.merged_payload
    payload = merged if merged is not None else cmd.payload
    contact = await ctx.client.update_contact(
        cmd.location_id, cmd.contact_id, payload, priority=WRITE
    )
    return ctx.entity_done(cmd, contact)


async def _delete(ctx: ApplyContext, cmd: commands.DeleteContact) -> Outcome:
    await once.delete(ctx.client.delete_contact(cmd.location_id, cmd.contact_id, priority=WRITE))
    event = ContactDeleted.build(
        location_id=cmd.location_id,
        contact_id=cmd.contact_id,
        deleted_at=ctx.clock(),
        **ctx.meta(cmd),
    )
    return ctx.done(cmd, "contact", cmd.contact_id, None, [event])


async def _snapshot_after(
    ctx: ApplyContext, cmd: commands.AddContactTags | commands.RemoveContactTags
) -> Outcome:
    # The tag answer holds only the tags; one read gives the snapshot with GHL's time.
    contact = await ctx.client.get_contact(cmd.location_id, cmd.contact_id, priority=WRITE)
    return ctx.entity_done(cmd, contact)


async def _add_tags(ctx: ApplyContext, cmd: commands.AddContactTags) -> Outcome:
    tags = list(cmd.payload.tags)
    await ctx.client.add_tags(cmd.location_id, cmd.contact_id, tags, priority=WRITE)
    return await _snapshot_after(ctx, cmd)


async def _remove_tags(ctx: ApplyContext, cmd: commands.RemoveContactTags) -> Outcome:
    tags = list(cmd.payload.tags)
    await ctx.client.remove_tags(cmd.location_id, cmd.contact_id, tags, priority=WRITE)
    return await _snapshot_after(ctx, cmd)


async def _answered(
    ctx: ApplyContext, cmd: CommandBase, call: Awaitable[BaseModel | bool]
) -> Outcome:
    """Done on the contact once GHL answered `call`; an answer with a body is the snapshot."""
    answer = await call
    snapshot = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else None
    return ctx.done(cmd, "contact", cmd.target_contact_id, snapshot)


async def _add_followers(ctx: ApplyContext, cmd: commands.AddContactFollowers) -> Outcome:
    followers = list(cmd.payload.followers)
    call = ctx.client.add_followers(cmd.location_id, cmd.contact_id, followers, priority=WRITE)
    return await _answered(ctx, cmd, call)


async def _remove_followers(ctx: ApplyContext, cmd: commands.RemoveContactFollowers) -> Outcome:
    followers = list(cmd.payload.followers)
    call = ctx.client.remove_followers(cmd.location_id, cmd.contact_id, followers, priority=WRITE)
    return await _answered(ctx, cmd, call)


async def _add_to_campaign(ctx: ApplyContext, cmd: commands.AddContactToCampaign) -> Outcome:
    return await once.trigger(
        ctx,
        cmd,
        lambda: ctx.client.add_to_campaign(
            cmd.location_id, cmd.contact_id, cmd.campaign_id, priority=WRITE
        ),
    )


async def _add_to_workflow(ctx: ApplyContext, cmd: commands.AddContactToWorkflow) -> Outcome:
    start = cmd.event_start_time.isoformat() if cmd.event_start_time else None
    return await once.trigger(
        ctx,
        cmd,
        lambda: ctx.client.add_to_workflow(
            cmd.location_id, cmd.contact_id, cmd.workflow_id, event_start_time=start, priority=WRITE
        ),
    )


async def _remove_from_campaign(
    ctx: ApplyContext, cmd: commands.RemoveContactFromCampaign
) -> Outcome:
    c, loc = ctx.client, cmd.location_id
    return await _answered(
        ctx, cmd, c.remove_from_campaign(loc, cmd.contact_id, cmd.campaign_id, priority=WRITE)
    )


async def _remove_from_all_campaigns(
    ctx: ApplyContext, cmd: commands.RemoveContactFromAllCampaigns
) -> Outcome:
    call = ctx.client.remove_from_all_campaigns(cmd.location_id, cmd.contact_id, priority=WRITE)
    return await _answered(ctx, cmd, call)


async def _remove_from_workflow(
    ctx: ApplyContext, cmd: commands.RemoveContactFromWorkflow
) -> Outcome:
    c, loc = ctx.client, cmd.location_id
    return await _answered(
        ctx, cmd, c.remove_from_workflow(loc, cmd.contact_id, cmd.workflow_id, priority=WRITE)
    )


async def _set_business(ctx: ApplyContext, cmd: commands.SetContactBusiness) -> Outcome:
    c, loc = ctx.client, cmd.location_id
    return await _answered(
        ctx, cmd, c.bulk_update_business(loc, [cmd.contact_id], cmd.business_id, priority=WRITE)
    )


CONTACT_HANDLERS: tuple[HandlerEntry, ...] = (
    handler(commands.CreateContact, "create-contact", _create),
    handler(commands.UpsertContact, "upsert-contact", _upsert),
    handler(commands.UpdateContact, "update-contact", _update),
    handler(commands.DeleteContact, "delete-contact", _delete),
    handler(commands.AddContactTags, "add-tags", _add_tags),
    handler(commands.RemoveContactTags, "remove-tags", _remove_tags),
    handler(commands.AddContactFollowers, "add-followers-contact", _add_followers),
    handler(commands.RemoveContactFollowers, "remove-followers-contact", _remove_followers),
    handler(commands.AddContactToCampaign, "add-contact-to-campaign", _add_to_campaign),
    handler(
        commands.RemoveContactFromCampaign, "remove-contact-from-campaign", _remove_from_campaign
    ),
    handler(
        commands.RemoveContactFromAllCampaigns,
        "remove-contact-from-every-campaign",
        _remove_from_all_campaigns,
    ),
    handler(commands.AddContactToWorkflow, "add-contact-to-workflow", _add_to_workflow),
    handler(
        commands.RemoveContactFromWorkflow, "delete-contact-from-workflow", _remove_from_workflow
    ),
    handler(commands.SetContactBusiness, "add-remove-contact-from-business", _set_business),
)
"""Contact command class -> its GHL operation and handler."""
