"""GoHighLevel entities as GHL sends them: `Contact`, `Task`, `Note`, `Appointment`.

Field names are GHL's own camelCase keys, without aliases, so a model dumps back to the shape
GHL sent. Only `id` is required: GHL omits fields freely (note webhooks carry six keys, REST
responses differ per endpoint), so every other field defaults to `None`, meaning "not sent".
Models are frozen and keep unknown keys (`extra="allow"`): a field GHL adds later is carried
through to the event log and the projections' JSONB instead of failing validation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from schemas._time import OptionalGhlTime

__all__ = [
    "Appointment",
    "AppointmentCreatedBy",
    "AttributionSource",
    "Contact",
    "CustomFieldValue",
    "DndChannel",
    "DndSettings",
    "GhlEntity",
    "Note",
    "Task",
]


class _GhlModel(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        # GHL is loose with scalars (a phone or postal code may arrive as a number); keeping
        # it as text is better than dead-lettering the whole record.
        coerce_numbers_to_str=True,
        # GHL omits what it does not know; our encoder leaves out null fields the same way
        # (absent means null), so the published schema requires only `id`.
        json_schema_serialization_defaults_required=False,
    )


class CustomFieldValue(_GhlModel):
    """One custom field on a contact as read: `{id, value}`.

    `value` is a string, number, list of strings or file object depending on the field type.
    """

    id: str
    value: JsonValue = None


class DndChannel(_GhlModel):
    """Do-not-disturb state of one channel: `status` is `active`, `inactive` or `permanent`."""

    status: str | None = None
    message: str | None = None
    code: str | None = None


class DndSettings(_GhlModel):
    """Per-channel do-not-disturb settings; channels GHL adds later are kept as extra keys."""

    Call: DndChannel | None = None
    Email: DndChannel | None = None
    SMS: DndChannel | None = None
    WhatsApp: DndChannel | None = None
    GMB: DndChannel | None = None
    FB: DndChannel | None = None
    RCS: DndChannel | None = None


class AttributionSource(_GhlModel):
    """Where a contact came from (first or latest touch)."""

    url: str | None = None
    campaign: str | None = None
    utmSource: str | None = None
    utmMedium: str | None = None
    utmContent: str | None = None
    referrer: str | None = None
    campaignId: str | None = None
    fbclid: str | None = None
    gclid: str | None = None
    msclikid: str | None = None
    dclid: str | None = None
    fbc: str | None = None
    fbp: str | None = None
    fbEventId: str | None = None
    userAgent: str | None = None
    ip: str | None = None
    medium: str | None = None
    mediumId: str | None = None


class GhlEntity(_GhlModel):
    """Fields every synced GHL entity has: its `id` and GHL's creation and change times."""

    id: str
    dateAdded: OptionalGhlTime = None
    dateUpdated: OptionalGhlTime = None


class _ContactFields(GhlEntity):
    # Shared with the flat contact webhooks, which use the key `type` for the event name.
    locationId: str | None = None
    name: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    emailLowerCase: str | None = None
    firstNameLowerCase: str | None = None
    lastNameLowerCase: str | None = None
    fullNameLowerCase: str | None = None
    phone: str | None = None
    companyName: str | None = None
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = None
    website: str | None = None
    timezone: str | None = None
    dnd: bool | None = None
    dndSettings: DndSettings | None = None
    source: str | None = None
    assignedTo: str | None = None
    tags: list[str] | None = None
    customFields: list[CustomFieldValue] | None = None
    businessId: str | None = None
    # Free text: GHL returns `YYYY-MM-DD` from REST and an ISO time in webhooks.
    dateOfBirth: str | None = None
    ssn: str | None = None
    keyword: str | None = None
    lastActivity: str | None = None
    # The REST spec says string, the webhook spec says array.
    attachments: JsonValue = None
    attributionSource: AttributionSource | None = None
    lastAttributionSource: AttributionSource | None = None
    visitorId: str | None = None


class Contact(_ContactFields):
    """A GHL contact (`GetContectByIdSchema`, and the flat body of contact webhooks)."""

    type: str | None = None
    """The contact's own type (e.g. `lead`); in a webhook body this key names the event."""


class _TaskFields(GhlEntity):
    title: str | None = None
    body: str | None = None
    dueDate: OptionalGhlTime = None
    completed: bool | None = None
    contactId: str | None = None
    assignedTo: str | None = None


class Task(_TaskFields):
    """A GHL task (`TaskSchema`). REST reads lack `dateAdded`; webhooks carry it."""


class _NoteFields(GhlEntity):
    body: str | None = None
    title: str | None = None
    color: str | None = None
    pinned: bool | None = None
    userId: str | None = None
    contactId: str | None = None


class Note(_NoteFields):
    """A GHL note (`GetNoteSchema`). Note webhooks carry only id, body, contactId, dateAdded."""


class AppointmentCreatedBy(_GhlModel):
    """Who booked an appointment (`CreatedOrUpdatedBy`)."""

    userId: str | None = None
    source: str | None = None


class Appointment(GhlEntity):
    """A GHL calendar appointment (`CalendarEventDTO`, contact `events`, webhook `appointment`).

    For a recurring event `id` may be an instance id (`<masterEventId>_<startMs>_<duration>`).
    """

    calendarId: str | None = None
    locationId: str | None = None
    contactId: str | None = None
    groupId: str | None = None
    title: str | None = None
    status: str | None = None
    appointmentStatus: str | None = None
    assignedUserId: str | None = None
    users: list[str] | None = None
    assignedResources: list[str] | None = None
    notes: str | None = None
    description: str | None = None
    address: str | None = None
    source: str | None = None
    meetingLocationType: str | None = None
    isRecurring: bool | None = None
    rrule: str | None = None
    masterEventId: str | None = None
    createdBy: AppointmentCreatedBy | None = None
    startTime: OptionalGhlTime = None
    endTime: OptionalGhlTime = None
