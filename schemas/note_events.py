"""Note events: `note.upserted` (snapshot) and `note.deleted` (tombstone).

Note webhooks are partial (no title, userId or dateUpdated): a snapshot built from a webhook
alone lacks them, and its `version` falls back to `observed_at`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self, Unpack

from schemas._envelope import DeletedEvent, UpsertedEvent, _resolve_contact_id
from schemas._event_fields import _BuildArgs
from schemas.ghl import Note

__all__ = ["NoteDeleted", "NoteUpserted"]


class NoteUpserted(UpsertedEvent[Note]):
    """A note was created or changed in GHL; the payload is its snapshot."""

    event_type: Literal["note.upserted"] = "note.upserted"
    schema_version: Literal[1] = 1
    entity_type: Literal["note"] = "note"

    @classmethod
    def build(
        cls, *, note: Note, contact_id: str | None = None, **facts: Unpack[_BuildArgs]
    ) -> Self:
        """Make the event for a note snapshot, with its deterministic `event_id`.

        The contact is the note's `contactId`; `contact_id` is used only when the note has
        none, and `MissingContactIdError` is raised when neither is known. `occurred_at`
        defaults to the note's `dateUpdated`.
        """
        contact = _resolve_contact_id(note, note.contactId, contact_id)
        return cls._from_snapshot(payload=note, contact_id=contact, **facts)


class NoteDeleted(DeletedEvent):
    """A note was deleted in GHL."""

    event_type: Literal["note.deleted"] = "note.deleted"
    schema_version: Literal[1] = 1
    entity_type: Literal["note"] = "note"

    @classmethod
    def build(
        cls,
        *,
        note_id: str,
        contact_id: str,
        deleted_at: datetime | None = None,
        **facts: Unpack[_BuildArgs],
    ) -> Self:
        """Make the tombstone event for a note; `occurred_at` defaults to `deleted_at`."""
        return cls._from_tombstone(
            entity_id=note_id, contact_id=contact_id, deleted_at=deleted_at, **facts
        )
