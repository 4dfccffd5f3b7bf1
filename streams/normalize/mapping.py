"""From raw deliveries to canonical events: decode, coalesce per entity, fetch, map.

Which webhooks are trusted as sent and which are fetched (GHL facts: REFERENCE.md section 3):

- Contact{Create,Update,DndUpdate,TagUpdate}: flat body without `dateUpdated`, `timezone`,
  `dndSettings` (except Dnd): FETCH `GET /contacts/{id}` -> `contact.upserted`; 404 ->
  `contact.deleted`.
- ContactDelete: last snapshot; deletion is final: TOMBSTONE from the payload, no fetch.
- TaskCreate: no `completed`; `contactId` and `body` may be missing (GHL #332): FETCH the task;
  without `contactId` FIND it in the location task search (narrowed by its title); 404 ->
  `task.deleted`; not found and no contact known -> skipped (the poller's task sweep has it).
- TaskComplete: no `completed`, and silent edits may have happened since: FETCH the task.
- TaskDelete: TOMBSTONE from the payload.
- Note{Create,Update}: allowlist only (id, body, contactId, dateAdded): FETCH the note;
  404 -> `note.deleted`.
- NoteDelete: TOMBSTONE from the payload.
- Appointment{Create,Update}: nested, lacks `status` and others: FETCH the contact's
  appointments and take this one; absent (or contact 404) -> `appointment.deleted`.
- AppointmentDelete: TOMBSTONE from the payload.
- A Delete in the same batch as other deliveries of the entity wins (no fetch).
- GHL's docs show AppointmentUpdate/Delete bodies typed "AppointmentCreate": such a delete is
  fetched, not found, and becomes a tombstone all the same.
- A tombstone or fetch that needs a contact nobody names: dead-lettered (`MissingContact`).

Every upsert is fetched, not only the visibly partial ones: no webhook body equals the REST
snapshot, and two shapes of one state would get two event ids with the same version (a tie
the projections break arbitrarily). A fetch also makes late, duplicated and reordered
deliveries harmless: whichever arrives, we emit what GHL holds now.

Coalescing: the records of one consumed batch are grouped by (location, entity type, entity
id); each group costs one fetch, however many deliveries it holds.

Times: a fetched snapshot's `observed_at` is when the fetch answered (it describes that
moment, and tasks and notes, having no `dateUpdated`, are ordered by it); a tombstone taken
from a Delete webhook uses the raw record's receive time, and `deleted_at` the webhook's
`timestamp`. Event ids digest only the payload, so re-processing the log yields the same ids
for every state GHL still holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias

from schemas import (
    AppointmentDelete,
    AppointmentDeleted,
    AppointmentUpserted,
    AppointmentWebhook,
    Contact,
    ContactDelete,
    ContactDeleted,
    ContactUpserted,
    ContactWebhook,
    Event,
    NoteDelete,
    NoteDeleted,
    NoteUpserted,
    NoteWebhook,
    Task,
    TaskDelete,
    TaskDeleted,
    TaskUpserted,
    TaskWebhook,
    WebhookDecodeError,
    WebhookPayload,
    parse_webhook,
)
from schemas.ghl_errors import NotFound
from schemas.raw import RawDelivery, RawRecordError
from streams.normalize.fetcher import GhlFetcher

__all__ = [
    "Decoded",
    "Invalid",
    "MissingContact",
    "Skipped",
    "Work",
    "coalesce",
    "decode",
    "resolve",
]

log = logging.getLogger(__name__)

EntityKind: TypeAlias = Literal["contact", "task", "note", "appointment"]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A raw record that is a webhook we sync."""

    delivery: RawDelivery
    webhook: WebhookPayload
    position: int
    """Index of the record in its batch (for offsets and dead letters)."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """A raw record that cannot be read: it goes to the dead-letter topic."""

    reason: str
    position: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A valid GHL delivery of an event we do not sync (AppInstall, LocationUpdate...)."""

    event_type: str | None
    position: int


def decode(
    value: bytes | None, key: bytes | None, headers: Sequence[tuple[str, bytes]], position: int
) -> Decoded | Invalid | Skipped:
    """Read one raw record."""
    try:
        delivery = RawDelivery.from_record(value, key, headers)
    except RawRecordError as exc:
        return Invalid(f"not a raw delivery: {exc}", position)
    parsed = parse_webhook(delivery.body)
    if isinstance(parsed, WebhookDecodeError):
        if parsed.reason.startswith("unknown webhook type"):
            return Skipped(parsed.event_type, position)
        return Invalid(f"invalid webhook: {parsed.reason}", position)
    return Decoded(delivery, parsed, position)


def _kind(webhook: WebhookPayload) -> EntityKind:
    if isinstance(webhook, ContactWebhook):
        return "contact"
    if isinstance(webhook, TaskWebhook):
        return "task"
    if isinstance(webhook, NoteWebhook):
        return "note"
    return "appointment"


def _entity_id(webhook: WebhookPayload) -> str:
    if isinstance(webhook, AppointmentWebhook):
        return webhook.appointment.id
    return webhook.id


@dataclass
class Work:
    """Every delivery of one batch about one entity: one fetch, a few events."""

    location_id: str
    kind: EntityKind
    entity_id: str
    items: list[Decoded] = field(default_factory=list)

    @property
    def positions(self) -> list[int]:
        """Batch positions of the records in this group."""
        return [item.position for item in self.items]

    def contact_id(self) -> str | None:
        """The contact, from whichever delivery names it."""
        for item in self.items:
            w = item.webhook
            if isinstance(w, ContactWebhook):
                return w.id
            cid = w.appointment.contactId if isinstance(w, AppointmentWebhook) else w.contactId
            if cid:
                return cid
        return None

    def deletion(self) -> Decoded | None:
        """The Delete delivery of the group, if any."""
        for item in self.items:
            if isinstance(
                item.webhook, ContactDelete | TaskDelete | NoteDelete | AppointmentDelete
            ):
                return item
        return None

    def last(self) -> Decoded:
        """The delivery received last (the causation of a fetched snapshot)."""
        return max(self.items, key=lambda i: (i.delivery.received_at, i.position))


def coalesce(decoded: Iterable[Decoded]) -> list[Work]:
    """Group deliveries by entity, in order of first appearance."""
    groups: dict[tuple[str, str, str], Work] = {}
    for item in decoded:
        w = item.webhook
        kind, entity_id = _kind(w), _entity_id(w)
        key = (w.locationId, kind, entity_id)
        if key not in groups:
            groups[key] = Work(w.locationId, kind, entity_id)
        groups[key].items.append(item)
    return list(groups.values())


class MissingContact(Exception):
    """A tombstone or fetch needs the contact and no delivery of the group names it."""


async def resolve(work: Work, fetcher: GhlFetcher, clock: Callable[[], datetime]) -> list[Event]:
    """The events for one group (see the module docstring for the rules).

    Raises `MissingContact` (bad data: dead-letter the group) and the fetcher's `GhlError`s
    other than `NotFound` (the caller retries or dead-letters them).
    """
    deletion = work.deletion()
    if deletion is not None:
        return [_tombstone_from_webhook(work, deletion)]
    last = work.last()
    cause = last.delivery.webhook_id or None
    loc, eid = work.location_id, work.entity_id
    contact_id = work.contact_id()
    try:
        if work.kind == "contact":
            contact = await fetcher.contact(loc, eid)
            return [_upsert_contact(loc, contact, clock(), cause)]
        if work.kind == "task":
            if contact_id is None:
                title = getattr(last.webhook, "title", None)
                found = await fetcher.find_task(loc, eid, hint=title)
                if found is None:
                    log.info("task %s of location %s has no contact and is not in the task "
                             "search; left to the poller", eid, loc)  # fmt: skip
                    return []
                return [_task(loc, found, clock(), cause)]
            task = await fetcher.task(loc, contact_id, eid)
            return [_task(loc, task, clock(), cause, contact_id)]
        if contact_id is None:
            raise MissingContact(f"{work.kind} {eid} has no contactId")
        if work.kind == "note":
            note = await fetcher.note(loc, contact_id, eid)
            return [
                NoteUpserted.build(location_id=loc, note=note, source="webhook",
                                   observed_at=clock(), contact_id=contact_id, causation_id=cause)
            ]  # fmt: skip
        for appointment in await fetcher.appointments(loc, contact_id):
            if appointment.id == eid:
                return [
                    AppointmentUpserted.build(
                        location_id=loc, appointment=appointment, source="webhook",
                        observed_at=clock(), contact_id=contact_id, causation_id=cause,
                    )
                ]  # fmt: skip
        raise NotFound(f"appointment {eid} is not among its contact's appointments")
    except NotFound:
        if work.kind != "contact" and contact_id is None:
            raise MissingContact(f"{work.kind} {eid} is gone and its contact is unknown") from None
        return [_tombstone(work, contact_id or eid, clock(), None, cause)]


def _upsert_contact(
    loc: str, contact: Contact, observed: datetime, cause: str | None
) -> ContactUpserted:
    return ContactUpserted.build(
        location_id=loc, contact=contact, source="webhook", observed_at=observed,
        causation_id=cause,
    )  # fmt: skip


def _task(
    loc: str, task: Task, observed: datetime, cause: str | None, contact_id: str | None = None
) -> TaskUpserted:
    return TaskUpserted.build(
        location_id=loc, task=task, source="webhook", observed_at=observed,
        contact_id=contact_id, causation_id=cause,
    )  # fmt: skip


def _tombstone_from_webhook(work: Work, item: Decoded) -> Event:
    contact_id = work.contact_id()
    if contact_id is None:
        raise MissingContact(f"{work.kind} {work.entity_id} deletion has no contactId")
    return _tombstone(
        work,
        contact_id,
        item.delivery.received_at,
        item.webhook.timestamp,
        item.delivery.webhook_id or None,
    )


def _tombstone(
    work: Work,
    contact_id: str,
    observed: datetime,
    deleted_at: datetime | None,
    cause: str | None,
) -> Event:
    common = {
        "location_id": work.location_id,
        "contact_id": contact_id,
        "source": "webhook",
        "observed_at": observed,
        "deleted_at": deleted_at,
        "causation_id": cause,
    }
    if work.kind == "contact":
        common.pop("contact_id")
        return ContactDeleted.build(contact_id=work.entity_id, **common)  # type: ignore[arg-type]
    if work.kind == "task":
        return TaskDeleted.build(task_id=work.entity_id, **common)  # type: ignore[arg-type]
    if work.kind == "note":
        return NoteDeleted.build(note_id=work.entity_id, **common)  # type: ignore[arg-type]
    return AppointmentDeleted.build(appointment_id=work.entity_id, **common)  # type: ignore[arg-type]
