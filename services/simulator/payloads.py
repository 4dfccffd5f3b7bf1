"""Webhook bodies as GHL sends them (`openapi/webhooks/*.json`), without the delivery keys.

- Contact events are flat: the contact's documented fields next to `type` and `locationId`,
  no `dateUpdated`; `dateOfBirth` as an ISO time; `ContactDndUpdate` adds `dndSettings`.
- Task events carry `id, assignedTo, body, contactId, title, dateAdded, dueDate` (no
  `completed`); a `TaskCreate` may lack `contactId` and `body` (GHL ISSUES #332).
- Note events carry only GHL's allowlist: `id, body, contactId, dateAdded` (ISSUES #312).
- Appointment events nest the record under `appointment` (times with an offset).
"""

from __future__ import annotations

from typing import Any

from schemas.ghl import Appointment, Contact, GhlEntity, Note, Task
from services.simulator.render import contact_rest, jsonable

__all__ = ["build_payload"]

_CONTACT = (
    "id", "address1", "city", "state", "postalCode", "country", "companyName", "source",
    "dateAdded", "dateOfBirth", "dnd", "email", "name", "firstName", "lastName", "phone", "tags",
    "website", "attachments", "assignedTo", "customFields",
)  # fmt: skip
_TASK = ("id", "assignedTo", "body", "contactId", "title", "dateAdded", "dueDate")
_NOTE = ("id", "body", "contactId", "dateAdded")
_APPOINTMENT = (
    "id", "address", "title", "calendarId", "contactId", "groupId", "appointmentStatus",
    "assignedUserId", "users", "notes", "source", "startTime", "endTime", "dateAdded",
    "dateUpdated",
)  # fmt: skip


def build_payload(
    event: str, location_id: str, entity: GhlEntity, *, drop_task_contact: bool = False
) -> dict[str, Any]:
    """The body of webhook `event` about `entity` (before `webhookId` and `timestamp`)."""
    body: dict[str, Any] = {"type": event, "locationId": location_id}
    if isinstance(entity, Contact):
        rest = contact_rest(entity)
        body.update({k: rest[k] for k in _CONTACT if k in rest})
        body.setdefault("attachments", [])
        if entity.dateOfBirth:
            body["dateOfBirth"] = f"{entity.dateOfBirth[:10]}T00:00:00.000Z"
        if event == "ContactDndUpdate":
            body["dndSettings"] = rest.get("dndSettings", {})
    elif isinstance(entity, Task):
        data = jsonable(entity.model_dump(exclude_none=True, include=set(_TASK)))
        body.update(data)
        if drop_task_contact and event == "TaskCreate":
            body.pop("contactId", None)
            body.pop("body", None)
    elif isinstance(entity, Note):
        body.update(jsonable(entity.model_dump(exclude_none=True, include=set(_NOTE))))
    elif isinstance(entity, Appointment):
        data = entity.model_dump(exclude_none=True, include=set(_APPOINTMENT))
        body["appointment"] = jsonable(data, offset_times=True)
    else:  # pragma: no cover - the state only emits the four entity types
        raise TypeError(f"no webhook shape for {type(entity).__name__}")
    return body
