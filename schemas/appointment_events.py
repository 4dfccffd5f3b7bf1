"""Appointment events: `appointment.upserted` (snapshot) and `appointment.deleted` (tombstone).

`appointment.upserted` is at schema version 2: version 1 stored the webhook's nested shape
`{"appointment": {...}}` as payload; see `schemas.upcasting`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self, Unpack

from schemas._envelope import DeletedEvent, UpsertedEvent, _resolve_contact_id
from schemas._event_fields import _BuildArgs
from schemas.ghl import Appointment

__all__ = ["AppointmentDeleted", "AppointmentUpserted"]


class AppointmentUpserted(UpsertedEvent[Appointment]):
    """An appointment was booked or changed in GHL; the payload is its snapshot (REST shape)."""

    event_type: Literal["appointment.upserted"] = "appointment.upserted"
    schema_version: Literal[2] = 2
    entity_type: Literal["appointment"] = "appointment"

    @classmethod
    def build(
        cls, *, appointment: Appointment, contact_id: str | None = None, **facts: Unpack[_BuildArgs]
    ) -> Self:
        """Make the event for an appointment snapshot, with its deterministic `event_id`.

        The contact is the appointment's `contactId`; `contact_id` is used only when the
        appointment has none, and `MissingContactIdError` is raised when neither is known.
        `occurred_at` defaults to the appointment's `dateUpdated`.
        """
        contact = _resolve_contact_id(appointment, appointment.contactId, contact_id)
        return cls._from_snapshot(payload=appointment, contact_id=contact, **facts)


class AppointmentDeleted(DeletedEvent):
    """An appointment was deleted in GHL."""

    event_type: Literal["appointment.deleted"] = "appointment.deleted"
    schema_version: Literal[1] = 1
    entity_type: Literal["appointment"] = "appointment"

    @classmethod
    def build(
        cls,
        *,
        appointment_id: str,
        contact_id: str,
        deleted_at: datetime | None = None,
        **facts: Unpack[_BuildArgs],
    ) -> Self:
        """Make the tombstone event for an appointment; `occurred_at` defaults to `deleted_at`."""
        return cls._from_tombstone(
            entity_id=appointment_id, contact_id=contact_id, deleted_at=deleted_at, **facts
        )
