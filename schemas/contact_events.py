"""Contact events: `contact.upserted` (full snapshot) and `contact.deleted` (tombstone)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self, Unpack

from schemas._envelope import DeletedEvent, EventFacts, UpsertedEvent
from schemas.ghl import Contact

__all__ = ["ContactDeleted", "ContactUpserted"]


class ContactUpserted(UpsertedEvent[Contact]):
    """A contact was created or changed in GHL; the payload is its snapshot."""

    event_type: Literal["contact.upserted"] = "contact.upserted"
    schema_version: Literal[1] = 1
    entity_type: Literal["contact"] = "contact"

    @classmethod
    def build(cls, *, location_id: str, contact: Contact, **facts: Unpack[EventFacts]) -> Self:
        """Make the event for a contact snapshot, with its deterministic `event_id`.

        `occurred_at` defaults to the contact's `dateUpdated`.
        """
        return cls._from_snapshot(location_id, contact, contact.id, **facts)


class ContactDeleted(DeletedEvent):
    """A contact was deleted in GHL."""

    event_type: Literal["contact.deleted"] = "contact.deleted"
    schema_version: Literal[1] = 1
    entity_type: Literal["contact"] = "contact"

    @classmethod
    def build(
        cls,
        *,
        location_id: str,
        contact_id: str,
        deleted_at: datetime | None = None,
        **facts: Unpack[EventFacts],
    ) -> Self:
        """Make the tombstone event for a contact; `occurred_at` defaults to `deleted_at`."""
        return cls._from_tombstone(location_id, contact_id, contact_id, deleted_at, **facts)
