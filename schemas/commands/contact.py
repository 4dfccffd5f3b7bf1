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


class _NewContact(CommandBase):
    """A command that writes a new contact (it has no contact id yet)."""

    payload: ContactInput


class _TagsCommand(Versioned, OnContact):
    """A command that adds or removes some of a contact's tags."""

    payload: TagsPayload


class _FollowersCommand(OnContact):
    """A command that adds or removes some of a contact's followers."""

    payload: FollowersPayload


class _OnCampaign(OnContact):
    """A command about a contact in one campaign."""

    campaign_id: Id


class _OnWorkflow(OnContact):
    """A command about a contact in one workflow."""

    workflow_id: Id


class CreateContact(_NewContact):
    """`POST /contacts/`."""

    command_type: Literal["contact.create"] = "contact.create"


class UpsertContact(_NewContact):
    """`POST /contacts/upsert`: GHL matches by the location's duplicate rules."""

    command_type: Literal["contact.upsert"] = "contact.upsert"


class UpdateContact(Versioned, OnContact):
    """`PUT /contacts/{contactId}`."""

    command_type: Literal["contact.update"] = "contact.update"
    payload: ContactChanges


class DeleteContact(Versioned, OnContact):
    """`DELETE /contacts/{contactId}` (its tasks, notes and appointments go with it)."""

    command_type: Literal["contact.delete"] = "contact.delete"


class AddContactTags(_TagsCommand):
    """`POST /contacts/{contactId}/tags`."""

    command_type: Literal["contact.add_tags"] = "contact.add_tags"


class RemoveContactTags(_TagsCommand):
    """`DELETE /contacts/{contactId}/tags`."""

    command_type: Literal["contact.remove_tags"] = "contact.remove_tags"


class AddContactFollowers(_FollowersCommand):
    """`POST /contacts/{contactId}/followers`."""

    command_type: Literal["contact.add_followers"] = "contact.add_followers"


class RemoveContactFollowers(_FollowersCommand):
    """`DELETE /contacts/{contactId}/followers`."""

    command_type: Literal["contact.remove_followers"] = "contact.remove_followers"


class AddContactToCampaign(_OnCampaign):
    """`POST /contacts/{contactId}/campaigns/{campaignId}` (a trigger: at most once)."""

    command_type: Literal["contact.add_to_campaign"] = "contact.add_to_campaign"


class RemoveContactFromCampaign(_OnCampaign):
    """`DELETE /contacts/{contactId}/campaigns/{campaignId}`."""

    command_type: Literal["contact.remove_from_campaign"] = "contact.remove_from_campaign"


class RemoveContactFromAllCampaigns(OnContact):
    """`DELETE /contacts/{contactId}/campaigns/removeAll`."""

    command_type: Literal["contact.remove_from_all_campaigns"] = "contact.remove_from_all_campaigns"


class AddContactToWorkflow(_OnWorkflow):
    """`POST /contacts/{contactId}/workflow/{workflowId}` (a trigger: at most once)."""

    command_type: Literal["contact.add_to_workflow"] = "contact.add_to_workflow"
    event_start_time: AwareDatetime | None = None


class RemoveContactFromWorkflow(_OnWorkflow):
    """`DELETE /contacts/{contactId}/workflow/{workflowId}`."""

    command_type: Literal["contact.remove_from_workflow"] = "contact.remove_from_workflow"


class SetContactBusiness(OnContact):
    """`POST /contacts/bulk/business` for one contact; no `business_id` removes it."""

    command_type: Literal["contact.set_business"] = "contact.set_business"
    business_id: Id | None = None
