"""GHL webhook bodies for the 14 events we sync, and `parse_webhook`, which never raises.

Contact, note and task webhooks are *flat*: the entity's fields sit at the top level next to
`type` (the event name) and `locationId`. Appointment webhooks nest the record under
`appointment`. Every body may also carry `webhookId`, `timestamp`, `appId` and `versionId`.
Each model returns the entity it describes (`.contact()`, `.task()`, `.note()`, or `.entity()`
on any of them), without the webhook's own keys.

Decoding is closed: `WEBHOOK_MODELS` is the only place an event name becomes a class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

import pydantic_core
from pydantic import ValidationError

from schemas._reasons import describe_validation_error, short_repr
from schemas._time import OptionalGhlTime
from schemas.ghl import (
    Appointment,
    Contact,
    Note,
    Task,
    _ContactFields,
    _GhlModel,
    _NoteFields,
    _TaskFields,
)

__all__ = [
    "WEBHOOK_MODELS",
    "AppointmentCreate",
    "AppointmentDelete",
    "AppointmentUpdate",
    "AppointmentWebhook",
    "ContactCreate",
    "ContactDelete",
    "ContactDndUpdate",
    "ContactTagUpdate",
    "ContactUpdate",
    "ContactWebhook",
    "NoteCreate",
    "NoteDelete",
    "NoteUpdate",
    "NoteWebhook",
    "TaskComplete",
    "TaskCreate",
    "TaskDelete",
    "TaskWebhook",
    "WebhookBase",
    "WebhookDecodeError",
    "WebhookPayload",
    "parse_webhook",
]

# Keys that describe the delivery, not the entity; `.contact()` and friends leave them out.
_DELIVERY_KEYS = frozenset({"type", "webhookId", "timestamp", "appId", "versionId"})


class WebhookBase(_GhlModel):
    """Keys every webhook body has (`type`, `locationId`) or may have (the delivery keys)."""

    type: str
    """The event name. Not checked against the model: GHL's docs show the wrong name in places."""
    locationId: str
    webhookId: str | None = None
    timestamp: OptionalGhlTime = None
    appId: str | None = None
    versionId: str | None = None

    def _entity_fields(self, *, keep_location: bool) -> dict[str, Any]:
        dropped = set(_DELIVERY_KEYS) if keep_location else {*_DELIVERY_KEYS, "locationId"}
        return self.model_dump(exclude_unset=True, exclude=dropped)


class ContactWebhook(WebhookBase, _ContactFields):
    """A flat contact webhook body: the contact's fields next to `type` and `locationId`."""

    def contact(self) -> Contact:
        """The contact as sent, with its `locationId` and without the delivery keys.

        The body's `type` is the event name, so the contact's own `type` is never set here.
        """
        return Contact.model_validate(self._entity_fields(keep_location=True))

    def entity(self) -> Contact:
        """Same as `contact()`."""
        return self.contact()


class ContactCreate(ContactWebhook):
    """`ContactCreate`: a contact was created."""


class ContactUpdate(ContactWebhook):
    """`ContactUpdate`: a contact changed. The documented body has no `dateUpdated`."""


class ContactDelete(ContactWebhook):
    """`ContactDelete`: a contact was deleted; the body is its last snapshot."""


class ContactDndUpdate(ContactWebhook):
    """`ContactDndUpdate`: do-not-disturb settings changed; the body adds `dndSettings`."""


class ContactTagUpdate(ContactWebhook):
    """`ContactTagUpdate`: tags were added or removed; `tags` is the full new list."""


class TaskWebhook(WebhookBase, _TaskFields):
    """A flat task webhook body. `contactId` may be missing in real `TaskCreate` deliveries."""

    def task(self) -> Task:
        """The task as sent, without `locationId` and the delivery keys."""
        return Task.model_validate(self._entity_fields(keep_location=False))

    def entity(self) -> Task:
        """Same as `task()`."""
        return self.task()


class TaskCreate(TaskWebhook):
    """`TaskCreate`: a task was created."""


class TaskComplete(TaskWebhook):
    """`TaskComplete`: a task was marked complete (the body has no `completed` key)."""

    def task(self) -> Task:
        """The task as sent, with `completed=True` unless the body says otherwise."""
        fields = self._entity_fields(keep_location=False)
        # The event itself is the statement that the task is complete.
        if fields.get("completed") is None:
            fields["completed"] = True
        return Task.model_validate(fields)


class TaskDelete(TaskWebhook):
    """`TaskDelete`: a task was deleted; the body is its last snapshot."""


class NoteWebhook(WebhookBase, _NoteFields):
    """A flat note webhook body: only `id`, `body`, `contactId` and `dateAdded` are sent."""

    def note(self) -> Note:
        """The (partial) note as sent, without `locationId` and the delivery keys."""
        return Note.model_validate(self._entity_fields(keep_location=False))

    def entity(self) -> Note:
        """Same as `note()`."""
        return self.note()


class NoteCreate(NoteWebhook):
    """`NoteCreate`: a note was added to a contact."""


class NoteUpdate(NoteWebhook):
    """`NoteUpdate`: a note's text changed."""


class NoteDelete(NoteWebhook):
    """`NoteDelete`: a note was deleted."""


class AppointmentWebhook(WebhookBase):
    """An appointment webhook body: the record is nested under `appointment`."""

    appointment: Appointment

    def entity(self) -> Appointment:
        """The nested appointment, with the body's `locationId` when the record lacks one.

        The nested record never carries `locationId`; the REST shape always does, so filling
        it in makes webhook and polled snapshots of the same appointment comparable.
        """
        if self.appointment.locationId is not None:
            return self.appointment
        return self.appointment.model_copy(update={"locationId": self.locationId})


class AppointmentCreate(AppointmentWebhook):
    """`AppointmentCreate`: an appointment was booked."""


class AppointmentUpdate(AppointmentWebhook):
    """`AppointmentUpdate`: an appointment changed (time, status, assignee...).

    GHL's docs example for this event carries `type: "AppointmentCreate"` (a docs bug), so
    the example must be parsed with this model directly, not through `parse_webhook`.
    """


class AppointmentDelete(AppointmentWebhook):
    """`AppointmentDelete`: an appointment was deleted; the body is its last snapshot.

    As with `AppointmentUpdate`, GHL's docs example wrongly says `type: "AppointmentCreate"`.
    """


WebhookPayload: TypeAlias = (
    ContactCreate
    | ContactUpdate
    | ContactDelete
    | ContactDndUpdate
    | ContactTagUpdate
    | NoteCreate
    | NoteUpdate
    | NoteDelete
    | TaskCreate
    | TaskComplete
    | TaskDelete
    | AppointmentCreate
    | AppointmentUpdate
    | AppointmentDelete
)
"""Any webhook body we sync."""

WEBHOOK_MODELS: Mapping[str, type[WebhookPayload]] = MappingProxyType(
    {
        "ContactCreate": ContactCreate,
        "ContactUpdate": ContactUpdate,
        "ContactDelete": ContactDelete,
        "ContactDndUpdate": ContactDndUpdate,
        "ContactTagUpdate": ContactTagUpdate,
        "NoteCreate": NoteCreate,
        "NoteUpdate": NoteUpdate,
        "NoteDelete": NoteDelete,
        "TaskCreate": TaskCreate,
        "TaskComplete": TaskComplete,
        "TaskDelete": TaskDelete,
        "AppointmentCreate": AppointmentCreate,
        "AppointmentUpdate": AppointmentUpdate,
        "AppointmentDelete": AppointmentDelete,
    }
)
"""The closed registry of webhook models, keyed by GHL event name (the body's `type`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDecodeError:
    """Why a webhook body could not be decoded; `event_type` is the body's `type` if known."""

    reason: str
    event_type: str | None = None


def _load(body: bytes | Mapping[str, Any]) -> object:
    if isinstance(body, Mapping):
        return dict(body)
    # pydantic's parser, not json.loads: it rejects lone surrogates and NaN, which could
    # never be written back out as JSON events.
    return pydantic_core.from_json(body, allow_inf_nan=False)


def parse_webhook(body: bytes | Mapping[str, Any]) -> WebhookPayload | WebhookDecodeError:
    """Decode a webhook body (raw bytes or an already parsed mapping) into its model.

    Never raises for bad input: non-JSON, a non-object, a missing or unknown `type`, or a
    validation failure give a `WebhookDecodeError` whose `reason` says what and where.
    Events outside `WEBHOOK_MODELS` (AppInstall, LocationUpdate...) are "unknown" here.

    The model is chosen by the body's `type`. GHL's docs examples for AppointmentUpdate and
    AppointmentDelete say `type: "AppointmentCreate"` (a known docs bug), so parse such an
    example with the model of its file's event, `WEBHOOK_MODELS[spec["event"]]`, not with
    this function. Should real deliveries carry the same wrong type, they decode as
    `AppointmentCreate`, and a deletion looks like a booking until GHL's REST API is asked.
    """
    try:
        data = _load(body)
    except ValueError as exc:
        return WebhookDecodeError(reason=f"body is not JSON: {exc}")
    if not isinstance(data, dict):
        return WebhookDecodeError(reason=f"body is not a JSON object but {type(data).__name__}")
    event_type = data.get("type")
    if event_type is None:
        return WebhookDecodeError(reason="body has no 'type'")
    if not isinstance(event_type, str):
        return WebhookDecodeError(reason=f"'type' is not a string: {short_repr(event_type)}")
    model = WEBHOOK_MODELS.get(event_type)
    if model is None:
        return WebhookDecodeError(
            reason=f"unknown webhook type {short_repr(event_type)}", event_type=event_type
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return WebhookDecodeError(reason=describe_validation_error(exc), event_type=event_type)
