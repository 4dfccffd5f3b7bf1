"""Contact commands: create, upsert, update, delete, tags, followers, campaigns, workflows,
business."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from schemas.commands._base import CommandBase, Id, OnContact, Versioned
from schemas.commands.payloads import ContactChanges, ContactInput, FollowersPayload, TagsPayload

__all__ = [
    "AddContactFollowers",
    "AddContactTags",
    "AddContactToCampaign",
    "AddContactToWorkflow",
    "CreateContact",
    "DeleteContact",
    "RemoveContactFollowers",
    "RemoveContactFromAllCampaigns",
    "RemoveContactFromCampaign",
    "RemoveContactFromWorkflow",
    "RemoveContactTags",
    "SetContactBusiness",
    "UpdateContact",
    "UpsertContact",
]


class CreateContact(CommandBase):
    """`POST /contacts/`."""

    command_type: Literal["contact.create"] = "contact.create"
    payload: ContactInput


class UpsertContact(CommandBase):
    """`POST /contacts/upsert`: GHL matches by the location's duplicate rules."""

    command_type: Literal["contact.upsert"] = "contact.upsert"
    payload: ContactInput


class UpdateContact(Versioned, OnContact):
    """`PUT /contacts/{contactId}`."""

    command_type: Literal["contact.update"] = "contact.update"
    payload: ContactChanges


class DeleteContact(Versioned, OnContact):
    """`DELETE /contacts/{contactId}` (its tasks, notes and appointments go with it)."""

    command_type: Literal["contact.delete"] = "contact.delete"


class AddContactTags(Versioned, OnContact):
    """`POST /contacts/{contactId}/tags`."""

    command_type: Literal["contact.add_tags"] = "contact.add_tags"
    payload: TagsPayload


class RemoveContactTags(Versioned, OnContact):
    """`DELETE /contacts/{contactId}/tags`."""

    command_type: Literal["contact.remove_tags"] = "contact.remove_tags"
    payload: TagsPayload


class AddContactFollowers(OnContact):
    """`POST /contacts/{contactId}/followers`."""

    command_type: Literal["contact.add_followers"] = "contact.add_followers"
    payload: FollowersPayload


class RemoveContactFollowers(OnContact):
    """`DELETE /contacts/{contactId}/followers`."""

    command_type: Literal["contact.remove_followers"] = "contact.remove_followers"
    payload: FollowersPayload


class AddContactToCampaign(OnContact):
    """`POST /contacts/{contactId}/campaigns/{campaignId}` (a trigger: at most once)."""

    command_type: Literal["contact.add_to_campaign"] = "contact.add_to_campaign"
    campaign_id: Id


class RemoveContactFromCampaign(OnContact):
    """`DELETE /contacts/{contactId}/campaigns/{campaignId}`."""

    command_type: Literal["contact.remove_from_campaign"] = "contact.remove_from_campaign"
    campaign_id: Id


class RemoveContactFromAllCampaigns(OnContact):
    """`DELETE /contacts/{contactId}/campaigns/removeAll`."""

    command_type: Literal["contact.remove_from_all_campaigns"] = "contact.remove_from_all_campaigns"


class AddContactToWorkflow(OnContact):
    """`POST /contacts/{contactId}/workflow/{workflowId}` (a trigger: at most once)."""

    command_type: Literal["contact.add_to_workflow"] = "contact.add_to_workflow"
    workflow_id: Id
    event_start_time: AwareDatetime | None = None


class RemoveContactFromWorkflow(OnContact):
    """`DELETE /contacts/{contactId}/workflow/{workflowId}`."""

    command_type: Literal["contact.remove_from_workflow"] = "contact.remove_from_workflow"
    workflow_id: Id


class SetContactBusiness(OnContact):
    """`POST /contacts/bulk/business` for one contact; no `business_id` removes it."""

    command_type: Literal["contact.set_business"] = "contact.set_business"
    business_id: Id | None = None
