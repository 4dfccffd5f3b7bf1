"""Contact operations of `apps/contacts.json`: contacts, tags, followers, campaigns, workflows."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from schemas.ghl import Contact
from schemas.ghl_errors import GhlError
from services.ghl._core import ClientCore, Json, operation
from services.ghl._operations import OPERATIONS, Safety
from services.ghl._ratelimit import Priority
from services.ghl.requests import ContactCreate, ContactSearch, ContactUpdate, ContactUpsert
from services.ghl.responses import (
    BulkBusinessResult,
    BulkTagsResult,
    ContactPage,
    ContactSearchPage,
    FollowersResult,
    UpsertResult,
)

__all__: list[str] = []

_M = TypeVar("_M", bound=BaseModel)

_READ = Priority.POLL
_WRITE = Priority.WRITE


def field(model: type[_M], body: Json, key: str, operation_id: str) -> _M:
    """Validate `body[key]` as `model`; a missing key is GHL breaking its contract."""
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise GhlError(f"answer lacks {key!r}", operation=OPERATIONS[operation_id].label)
    return model.model_validate(value)


def items(model: type[_M], body: Json, key: str) -> list[_M]:
    """Validate the list `body[key]` (absent means empty)."""
    value = body.get(key) if isinstance(body, dict) else None
    return [model.model_validate(item) for item in value or ()]


def succeeded(body: Json) -> bool:
    """GHL spells it `succeded` in v2 and `succeeded` elsewhere; accept either."""
    if not isinstance(body, dict):
        return False
    return bool(body.get("succeded", body.get("succeeded", False)))


class ContactsOps(ClientCore):
    """Contacts, their tags, followers, campaigns and workflows."""

    @operation("get-contact")
    async def get_contact(
        self, location_id: str, contact_id: str, *, priority: Priority = _READ
    ) -> Contact:
        """`GET /contacts/{contactId}`."""
        body = await self._call(
            "get-contact", location_id, path={"contactId": contact_id}, priority=priority
        )
        return field(Contact, body, "contact", "get-contact")

    @operation("search-contacts-advanced")
    async def search_contacts(
        self, location_id: str, search: ContactSearch, *, priority: Priority = _READ
    ) -> ContactSearchPage:
        """`POST /contacts/search`: one page (see `iter_search_contacts` for all of them)."""
        body = await self._call(
            "search-contacts-advanced",
            location_id,
            json={"locationId": location_id, **search.to_json()},
            priority=priority,
        )
        return ContactSearchPage.model_validate(body)

    @operation("get-duplicate-contact")
    async def get_duplicate_contact(
        self,
        location_id: str,
        *,
        email: str | None = None,
        number: str | None = None,
        priority: Priority = _READ,
    ) -> Contact | None:
        """`GET /contacts/search/duplicate`: the contact GHL would treat as the same one."""
        body = await self._call(
            "get-duplicate-contact",
            location_id,
            params={"locationId": location_id, "email": email, "number": number},
            priority=priority,
        )
        found = body.get("contact") if isinstance(body, dict) else None
        return Contact.model_validate(found) if isinstance(found, dict) else None

    @operation("get-contacts")
    async def list_contacts(
        self,
        location_id: str,
        *,
        limit: int = 100,
        start_after: int | None = None,
        start_after_id: str | None = None,
        query: str | None = None,
        priority: Priority = _READ,
    ) -> ContactPage:
        """`GET /contacts/` (deprecated by GHL, still the cheapest full listing)."""
        body = await self._call(
            "get-contacts",
            location_id,
            params={
                "locationId": location_id,
                "limit": limit,
                "startAfter": start_after,
                "startAfterId": start_after_id,
                "query": query,
            },
            priority=priority,
        )
        return ContactPage.model_validate(body)

    @operation("get-contacts-by-businessId")
    async def list_contacts_by_business(
        self,
        location_id: str,
        business_id: str,
        *,
        limit: int = 25,
        skip: int = 0,
        query: str | None = None,
        priority: Priority = _READ,
    ) -> ContactPage:
        """`GET /contacts/business/{businessId}`."""
        body = await self._call(
            "get-contacts-by-businessId",
            location_id,
            path={"businessId": business_id},
            params={"locationId": location_id, "limit": limit, "skip": skip, "query": query},
            priority=priority,
        )
        return ContactPage.model_validate(body)

    @operation("create-contact")
    async def create_contact(
        self, location_id: str, contact: ContactCreate, *, priority: Priority = _WRITE
    ) -> Contact:
        """`POST /contacts/`. Not idempotent: a lost answer raises `OutcomeUnknown`."""
        body = await self._call(
            "create-contact",
            location_id,
            json={"locationId": location_id, **contact.to_json()},
            priority=priority,
        )
        return field(Contact, body, "contact", "create-contact")

    @operation("update-contact")
    async def update_contact(
        self,
        location_id: str,
        contact_id: str,
        changes: ContactUpdate,
        *,
        priority: Priority = _WRITE,
    ) -> Contact:
        """`PUT /contacts/{contactId}`."""
        body = await self._call(
            "update-contact",
            location_id,
            path={"contactId": contact_id},
            json=changes.to_json(),
            priority=priority,
        )
        return field(Contact, body, "contact", "update-contact")

    @operation("upsert-contact")
    async def upsert_contact(
        self, location_id: str, contact: ContactUpsert, *, priority: Priority = _WRITE
    ) -> UpsertResult:
        """`POST /contacts/upsert`: matched by the location's duplicate rules, so repeatable,
        unless `createNewIfDuplicateAllowed` asks for a new record every time."""
        body = await self._call(
            "upsert-contact",
            location_id,
            json={"locationId": location_id, **contact.to_json()},
            priority=priority,
            safety=Safety.NOT_IDEMPOTENT if contact.createNewIfDuplicateAllowed else None,
        )
        return UpsertResult.model_validate(body)

    @operation("delete-contact")
    async def delete_contact(
        self, location_id: str, contact_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`DELETE /contacts/{contactId}`."""
        body = await self._call(
            "delete-contact", location_id, path={"contactId": contact_id}, priority=priority
        )
        return succeeded(body)

    @operation("add-tags")
    async def add_tags(
        self, location_id: str, contact_id: str, tags: list[str], *, priority: Priority = _WRITE
    ) -> list[str]:
        """`POST /contacts/{contactId}/tags`: adds (a set union, so repeatable)."""
        return await self._tags("add-tags", location_id, contact_id, tags, priority)

    @operation("remove-tags")
    async def remove_tags(
        self, location_id: str, contact_id: str, tags: list[str], *, priority: Priority = _WRITE
    ) -> list[str]:
        """`DELETE /contacts/{contactId}/tags` (body on DELETE)."""
        return await self._tags("remove-tags", location_id, contact_id, tags, priority)

    async def _tags(
        self,
        operation_id: str,
        location_id: str,
        contact_id: str,
        tags: list[str],
        priority: Priority,
    ) -> list[str]:
        body = await self._call(
            operation_id,
            location_id,
            path={"contactId": contact_id},
            json={"tags": tags},
            priority=priority,
        )
        return [str(tag) for tag in body.get("tags") or ()]

    @operation("create-association")
    async def bulk_update_tags(
        self,
        location_id: str,
        action: Literal["add", "remove"],
        contact_ids: list[str],
        tags: list[str],
        *,
        remove_all_tags: bool | None = None,
        priority: Priority = _WRITE,
    ) -> BulkTagsResult:
        """`POST /contacts/bulk/tags/update/{type}` (GHL's operationId: create-association)."""
        payload: dict[str, Any] = {"contacts": contact_ids, "tags": tags, "locationId": location_id}
        if remove_all_tags is not None:
            payload["removeAllTags"] = remove_all_tags
        body = await self._call(
            "create-association",
            location_id,
            path={"type": action},
            json=payload,
            priority=priority,
        )
        return BulkTagsResult.model_validate(body)

    @operation("add-remove-contact-from-business")
    async def bulk_update_business(
        self,
        location_id: str,
        contact_ids: list[str],
        business_id: str | None,
        *,
        priority: Priority = _WRITE,
    ) -> BulkBusinessResult:
        """`POST /contacts/bulk/business`: `business_id=None` removes them from their business."""
        body = await self._call(
            "add-remove-contact-from-business",
            location_id,
            json={"locationId": location_id, "ids": contact_ids, "businessId": business_id},
            priority=priority,
        )
        return BulkBusinessResult.model_validate(body)

    @operation("add-followers-contact")
    async def add_followers(
        self,
        location_id: str,
        contact_id: str,
        followers: list[str],
        *,
        priority: Priority = _WRITE,
    ) -> FollowersResult:
        """`POST /contacts/{contactId}/followers`."""
        return await self._followers(
            "add-followers-contact", location_id, contact_id, followers, priority
        )

    @operation("remove-followers-contact")
    async def remove_followers(
        self,
        location_id: str,
        contact_id: str,
        followers: list[str],
        *,
        priority: Priority = _WRITE,
    ) -> FollowersResult:
        """`DELETE /contacts/{contactId}/followers`."""
        return await self._followers(
            "remove-followers-contact", location_id, contact_id, followers, priority
        )

    async def _followers(
        self,
        operation_id: str,
        location_id: str,
        contact_id: str,
        followers: list[str],
        priority: Priority,
    ) -> FollowersResult:
        body = await self._call(
            operation_id,
            location_id,
            path={"contactId": contact_id},
            json={"followers": followers},
            priority=priority,
        )
        return FollowersResult.model_validate(body)

    @operation("add-contact-to-campaign")
    async def add_to_campaign(
        self, location_id: str, contact_id: str, campaign_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`POST /contacts/{contactId}/campaigns/{campaignId}`; starts sending, so not repeated."""
        body = await self._call(
            "add-contact-to-campaign",
            location_id,
            path={"contactId": contact_id, "campaignId": campaign_id},
            json={},
            priority=priority,
        )
        return succeeded(body)

    @operation("remove-contact-from-campaign")
    async def remove_from_campaign(
        self, location_id: str, contact_id: str, campaign_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`DELETE /contacts/{contactId}/campaigns/{campaignId}`."""
        body = await self._call(
            "remove-contact-from-campaign",
            location_id,
            path={"contactId": contact_id, "campaignId": campaign_id},
            priority=priority,
        )
        return succeeded(body)

    @operation("remove-contact-from-every-campaign")
    async def remove_from_all_campaigns(
        self, location_id: str, contact_id: str, *, priority: Priority = _WRITE
    ) -> bool:
        """`DELETE /contacts/{contactId}/campaigns/removeAll`."""
        body = await self._call(
            "remove-contact-from-every-campaign",
            location_id,
            path={"contactId": contact_id},
            priority=priority,
        )
        return succeeded(body)

    @operation("add-contact-to-workflow")
    async def add_to_workflow(
        self,
        location_id: str,
        contact_id: str,
        workflow_id: str,
        *,
        event_start_time: str | None = None,
        priority: Priority = _WRITE,
    ) -> bool:
        """`POST /contacts/{contactId}/workflow/{workflowId}`; runs a workflow, so not repeated."""
        return await self._workflow(
            "add-contact-to-workflow", location_id, contact_id, workflow_id, event_start_time,
            priority,
        )  # fmt: skip

    @operation("delete-contact-from-workflow")
    async def remove_from_workflow(
        self,
        location_id: str,
        contact_id: str,
        workflow_id: str,
        *,
        event_start_time: str | None = None,
        priority: Priority = _WRITE,
    ) -> bool:
        """`DELETE /contacts/{contactId}/workflow/{workflowId}`."""
        return await self._workflow(
            "delete-contact-from-workflow", location_id, contact_id, workflow_id, event_start_time,
            priority,
        )  # fmt: skip

    async def _workflow(
        self,
        operation_id: str,
        location_id: str,
        contact_id: str,
        workflow_id: str,
        event_start_time: str | None,
        priority: Priority,
    ) -> bool:
        payload = {"eventStartTime": event_start_time} if event_start_time else {}
        body = await self._call(
            operation_id,
            location_id,
            path={"contactId": contact_id, "workflowId": workflow_id},
            json=payload,
            priority=priority,
        )
        return succeeded(body)
