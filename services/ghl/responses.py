"""Answers of the GHL operations that are more than one entity.

Entities themselves are `schemas.ghl` models. Like them, these keep unknown keys, so a field GHL
adds is carried through rather than rejected.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from schemas.ghl import Contact

__all__ = [
    "BulkBusinessResult",
    "BulkTagsResult",
    "ContactPage",
    "ContactSearchPage",
    "ContactsMeta",
    "FollowersResult",
    "UpsertResult",
]


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class ContactsMeta(_Answer):
    """Paging facts of `GET /contacts/` (ContactsMetaSchema)."""

    total: int | None = None
    nextPageUrl: str | None = None
    startAfterId: str | None = None
    startAfter: int | None = None
    currentPage: int | None = None
    nextPage: int | None = None
    prevPage: int | None = None


class ContactPage(_Answer):
    """One page of `GET /contacts/` or `GET /contacts/business/{businessId}`."""

    contacts: list[Contact] = []
    count: int | None = None
    meta: ContactsMeta | None = None


class ContactSearchPage(_Answer):
    """One page of `POST /contacts/search`; each hit may carry its `searchAfter` cursor."""

    contacts: list[Contact] = []
    total: int | None = None


class UpsertResult(_Answer):
    """`POST /contacts/upsert`: the contact, whether it is new, and GHL's trace id."""

    new: bool | None = None
    contact: Contact
    traceId: str | None = None


class BulkTagsResult(_Answer):
    """`POST /contacts/bulk/tags/update/{type}`."""

    succeded: bool | None = None
    errorCount: int | None = None
    responses: list[JsonValue] = []


class BulkBusinessResult(_Answer):
    """`POST /contacts/bulk/business`."""

    success: bool | None = None
    ids: list[str] = []


class FollowersResult(_Answer):
    """Followers after `POST`/`DELETE /contacts/{contactId}/followers`."""

    followers: list[str] = []
    followersAdded: list[str] | None = None
    followersRemoved: list[str] | None = None
