"""The canonical event envelope on `ghl.events`, tombstones, and deterministic event ids.

Every event is an `EventEnvelope` subclass: frozen, `extra="forbid"`, `strict=True`. Strict
mode still reads ISO-8601 times from JSON, so decode with `model_validate_json` (or
`schemas.decode_event`), not `model_validate` on a dict parsed elsewhere.

The same GHL fact ingested twice (by webhook and by poll, at different times) must get the same
`event_id`, so the id is a UUIDv5 over the event type, location, entity and a digest of the
payload, never over observation time or source.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import (
    Annotated,
    Generic,
    Literal,
    Required,
    Self,
    TypeAlias,
    TypedDict,
    TypeVar,
    Unpack,
)

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from schemas._config import PUBLISHED_CONFIG
from schemas.exceptions import MissingContactIdError
from schemas.ghl import GhlEntity

__all__ = [
    "EVENT_ID_NAMESPACE",
    "DeletedEvent",
    "EntityType",
    "EventEnvelope",
    "EventFacts",
    "Source",
    "Tombstone",
    "UpsertedEvent",
    "compute_event_id",
    "payload_digest",
]

EVENT_ID_NAMESPACE = uuid.UUID("ab927a48-66f5-40ea-99d4-3bd0da5f78e1")
"""Fixed UUIDv5 namespace of ghl-sync event ids. Changing it changes every future event id."""

Source: TypeAlias = Literal["webhook", "poll", "backfill", "reconcile", "writer"]
"""How we learnt the fact: a GHL webhook, the poller, a backfill, deletion reconciliation, or
the result of our own write to GHL."""

EntityType: TypeAlias = Literal["contact", "task", "note", "appointment"]
"""The kind of GHL entity an event is about."""

_NonEmpty = Annotated[str, Field(min_length=1)]

EntityT = TypeVar("EntityT", bound=GhlEntity)


class _EventModel(BaseModel):
    model_config = ConfigDict(**PUBLISHED_CONFIG, strict=True)


class Tombstone(_EventModel):
    """The payload of a `*.deleted` event."""

    id: _NonEmpty
    """The GHL id of the deleted entity."""
    deleted_at: AwareDatetime | None = None
    """When the entity was deleted, if known. Not part of the event id."""


def payload_digest(payload: BaseModel) -> str:
    """SHA-256 (hex) of the payload's canonical JSON: sorted keys, no whitespace, ASCII.

    Absent and `null` fields are the same snapshot, so `None` values are left out; this also
    keeps ids stable when a field GHL already sends is later declared on the model. A
    tombstone's `deleted_at` is left out because it may come from our own clock.
    """
    if isinstance(payload, Tombstone):
        data = payload.model_dump(mode="json", exclude={"deleted_at"})
    else:
        data = payload.model_dump(mode="json", exclude_none=True)
    # ensure_ascii: lone surrogates from JSON input cannot be encoded as UTF-8.
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def compute_event_id(
    *, event_type: str, location_id: str, entity_id: str, payload: BaseModel
) -> str:
    """The deterministic event id: UUIDv5 of `event_type|location_id|entity_id|digest`."""
    name = f"{event_type}|{location_id}|{entity_id}|{payload_digest(payload)}"
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def _resolve_contact_id(entity: GhlEntity, own: str | None, fallback: str | None) -> str:
    # The entity's own contactId is the truth; the fallback is for partial webhooks (a
    # TaskCreate without contactId) where the caller looked the contact up elsewhere.
    contact_id = own or fallback
    if not contact_id:
        raise MissingContactIdError(
            f"{type(entity).__name__} {entity.id!r} has no contactId and none was given"
        )
    return contact_id


class EventFacts(TypedDict, total=False):
    """How and when we learnt a fact: the keywords every event's `build` takes besides the
    entity (see `EventEnvelope` for each field's meaning)."""

    source: Required[Source]
    observed_at: Required[datetime]
    occurred_at: datetime | None
    """Defaults to GHL's time in the payload: `dateUpdated`, or a tombstone's `deleted_at`."""
    causation_id: str | None
    correlation_id: str | None


class EventEnvelope(_EventModel):
    """Fields every canonical event carries; subclasses fix the type, version and payload."""

    event_id: _NonEmpty
    """Deterministic id (see `compute_event_id`); equal ids mean the same fact."""
    event_type: str
    """What happened, e.g. `contact.upserted`; the discriminator for decoding."""
    schema_version: int
    """Version of this event type's shape; older versions are upcast on read."""
    location_id: _NonEmpty
    """The GHL location (sub-account) the entity belongs to."""
    entity_type: EntityType
    """The kind of entity in the payload."""
    entity_id: _NonEmpty
    """GHL id of the entity."""
    contact_id: _NonEmpty
    """GHL id of the contact the entity belongs to (the contact itself for contact events)."""
    occurred_at: AwareDatetime | None = None
    """GHL's time of the change, when GHL gives one."""
    observed_at: AwareDatetime
    """When we read the fact from GHL."""
    source: Source
    """How we learnt the fact."""
    causation_id: str | None = None
    """Id of the message (raw webhook, command) that caused this event."""
    correlation_id: str | None = None
    """Id shared by every message of one flow, e.g. an APPNAME command and its results."""

    @field_validator("schema_version", mode="before")
    @classmethod
    def _integer_version(cls, value: object) -> object:
        # JSON `true` equals 1 to a Literal[1]; a version is a number, never a flag.
        if isinstance(value, bool):
            raise ValueError("schema_version must be an integer, not a boolean")
        return value

    @property
    def key(self) -> str:
        """The Kafka key, `location_id:contact_id`: one contact's history in one partition."""
        return f"{self.location_id}:{self.contact_id}"

    @property
    def version(self) -> datetime:
        """What projections order snapshots by: GHL's time in the payload, else `observed_at`."""
        snapshot_time = self._snapshot_time()
        return snapshot_time if snapshot_time is not None else self.observed_at

    def _snapshot_time(self) -> datetime | None:
        return None

    @classmethod
    def _assemble(
        cls,
        *,
        location_id: str,
        entity_id: str,
        contact_id: str,
        payload: BaseModel,
        fallback_time: datetime | None,
        source: Source,
        observed_at: datetime,
        occurred_at: datetime | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Self:
        # Concrete event classes give event_type, schema_version and entity_type a Literal
        # default, so a builder fills in only the facts. The builders pass `EventFacts` on
        # unchecked; this signature is where an unknown or missing one is refused.
        event_type = cls.model_fields["event_type"].default
        if not isinstance(event_type, str):
            raise TypeError(f"{cls.__name__} is not a concrete event type")
        event_id = compute_event_id(
            event_type=event_type, location_id=location_id, entity_id=entity_id, payload=payload
        )
        return cls.model_validate(
            {
                "event_id": event_id,
                "location_id": location_id,
                "entity_id": entity_id,
                "contact_id": contact_id,
                "occurred_at": occurred_at if occurred_at is not None else fallback_time,
                "observed_at": observed_at,
                "source": source,
                "causation_id": causation_id,
                "correlation_id": correlation_id,
                "payload": payload,
            }
        )


class UpsertedEvent(EventEnvelope, Generic[EntityT]):
    """An entity was created or changed; the payload is its full snapshot as GHL sent it."""

    payload: EntityT
    """The entity as GHL sent it."""

    def _snapshot_time(self) -> datetime | None:
        return self.payload.dateUpdated

    @classmethod
    def _from_snapshot(
        cls, location_id: str, payload: EntityT, contact_id: str, **facts: Unpack[EventFacts]
    ) -> Self:
        """The event for `payload`; `occurred_at` defaults to the snapshot's `dateUpdated`."""
        return cls._assemble(
            location_id=location_id,
            entity_id=payload.id,
            contact_id=contact_id,
            payload=payload,
            fallback_time=payload.dateUpdated,
            **facts,
        )


class DeletedEvent(EventEnvelope):
    """An entity was deleted in GHL; the payload is a `Tombstone`."""

    payload: Tombstone
    """The id of the deleted entity and, if known, when it was deleted."""

    def _snapshot_time(self) -> datetime | None:
        return self.payload.deleted_at

    @classmethod
    def _from_tombstone(
        cls,
        location_id: str,
        entity_id: str,
        contact_id: str,
        deleted_at: datetime | None,
        **facts: Unpack[EventFacts],
    ) -> Self:
        """The tombstone event; `occurred_at` defaults to `deleted_at`."""
        return cls._assemble(
            location_id=location_id,
            entity_id=entity_id,
            contact_id=contact_id,
            payload=Tombstone(id=entity_id, deleted_at=deleted_at),
            fallback_time=deleted_at,
            **facts,
        )
