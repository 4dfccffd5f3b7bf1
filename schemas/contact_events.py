"""Contact events: `contact.upserted` (full snapshot) and `contact.deleted` (tombstone)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self, Unpack

from schemas._envelope import DeletedEvent, UpsertedEvent
from schemas._event_fields import _BuildArgs
from schemas.ghl import Contact

__all__ = ["ContactDeleted", "ContactUpserted"]


class ContactUpserted(UpsertedEvent[Contact]):
    """A contact was created or changed in GHL; the payload is its snapshot."""

    event_type: Literal["contact.upserted"] = "contact.upserted"
    schema_version: Literal[1] = 1
    entity_type: Literal["contact"] = "contact"

    @classmethod
    def build(cls, *, contact: Contact, **facts: Unpack[_BuildArgs]) -> Self:
        """Make the event for a contact snapshot, with its deterministic `event_id`.

        `occurred_at` defaults to the contact's `dateUpdated`.
        """
        return cls._from_snapshot(payload=contact, contact_id=contact.id, **facts)


class ContactDeleted(DeletedEvent):
    """A contact was deleted in GHL."""

    event_type: Literal["contact.deleted"] = "contact.deleted"
    schema_version: Literal[1] = 1
    entity_type: Literal["contact"] = "contact"

    @classmethod
    def build(
        cls, *, contact_id: str, deleted_at: datetime | None = None, **facts: Unpack[_BuildArgs]
    ) -> Self:
        """Make the tombstone event for a contact; `occurred_at` defaults to `deleted_at`."""
        return cls._from_tombstone(
            entity_id=contact_id, contact_id=contact_id, deleted_at=deleted_at, **facts
        )
