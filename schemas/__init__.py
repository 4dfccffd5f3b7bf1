"""ghl-sync schemas: GHL entities and webhooks, canonical events, their registry and JSON Schema.

Everything public is importable from here; the submodules are named for what they hold:

- `ghl`: GoHighLevel entities as GHL sends them (`Contact`, `Task`, `Note`, `Appointment`)
- `webhooks`: the 14 webhook bodies we sync and `parse_webhook`
- `contact_events`, `task_events`, `note_events`, `appointment_events`: canonical events
- `registry`: the closed `Event` union, `decode_event`, `encode_event`
- `upcasting`: steps that bring old `schema_version`s up to date on read
- `export`: JSON Schema files for consumers of `ghl.events`
- `exceptions`: errors for misuse (bad input is returned as a value, never raised)
"""

from __future__ import annotations

from schemas._envelope import (
    EVENT_ID_NAMESPACE,
    DeletedEvent,
    EntityType,
    EventEnvelope,
    Source,
    Tombstone,
    UpsertedEvent,
    compute_event_id,
    payload_digest,
)
from schemas._time import (
    GhlTime,
    OptionalGhlTime,
    parse_ghl_time,
)
from schemas.appointment_events import (
    AppointmentDeleted,
    AppointmentUpserted,
)
from schemas.contact_events import (
    ContactDeleted,
    ContactUpserted,
)
from schemas.exceptions import (
    MissingContactIdError,
    SchemaError,
    UpcastError,
)
from schemas.export import (
    check_json_schemas,
    export_json_schemas,
    render_json_schemas,
)
from schemas.ghl import (
    Appointment,
    AppointmentCreatedBy,
    AttributionSource,
    Contact,
    CustomFieldValue,
    DndChannel,
    DndSettings,
    GhlEntity,
    Note,
    Task,
)
from schemas.note_events import (
    NoteDeleted,
    NoteUpserted,
)
from schemas.registry import (
    CURRENT_SCHEMA_VERSIONS,
    EVENT_TYPES,
    Event,
    EventDecodeError,
    EventType,
    decode_event,
    encode_event,
)
from schemas.task_events import (
    TaskDeleted,
    TaskUpserted,
)
from schemas.upcasting import (
    UPCASTERS,
    Upcaster,
    upcast,
)
from schemas.webhooks import (
    WEBHOOK_MODELS,
    AppointmentCreate,
    AppointmentDelete,
    AppointmentUpdate,
    AppointmentWebhook,
    ContactCreate,
    ContactDelete,
    ContactDndUpdate,
    ContactTagUpdate,
    ContactUpdate,
    ContactWebhook,
    NoteCreate,
    NoteDelete,
    NoteUpdate,
    NoteWebhook,
    TaskComplete,
    TaskCreate,
    TaskDelete,
    TaskWebhook,
    WebhookBase,
    WebhookDecodeError,
    WebhookPayload,
    parse_webhook,
)

__all__ = [
    "CURRENT_SCHEMA_VERSIONS",
    "EVENT_ID_NAMESPACE",
    "EVENT_TYPES",
    "UPCASTERS",
    "WEBHOOK_MODELS",
    "Appointment",
    "AppointmentCreate",
    "AppointmentCreatedBy",
    "AppointmentDelete",
    "AppointmentDeleted",
    "AppointmentUpdate",
    "AppointmentUpserted",
    "AppointmentWebhook",
    "AttributionSource",
    "Contact",
    "ContactCreate",
    "ContactDelete",
    "ContactDeleted",
    "ContactDndUpdate",
    "ContactTagUpdate",
    "ContactUpdate",
    "ContactUpserted",
    "ContactWebhook",
    "CustomFieldValue",
    "DeletedEvent",
    "DndChannel",
    "DndSettings",
    "EntityType",
    "Event",
    "EventDecodeError",
    "EventEnvelope",
    "EventType",
    "GhlEntity",
    "GhlTime",
    "MissingContactIdError",
    "Note",
    "NoteCreate",
    "NoteDelete",
    "NoteDeleted",
    "NoteUpdate",
    "NoteUpserted",
    "NoteWebhook",
    "OptionalGhlTime",
    "SchemaError",
    "Source",
    "Task",
    "TaskComplete",
    "TaskCreate",
    "TaskDelete",
    "TaskDeleted",
    "TaskUpserted",
    "TaskWebhook",
    "Tombstone",
    "UpcastError",
    "Upcaster",
    "UpsertedEvent",
    "WebhookBase",
    "WebhookDecodeError",
    "WebhookPayload",
    "check_json_schemas",
    "compute_event_id",
    "decode_event",
    "encode_event",
    "export_json_schemas",
    "parse_ghl_time",
    "parse_webhook",
    "payload_digest",
    "render_json_schemas",
    "upcast",
]
