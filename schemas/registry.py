"""The closed event registry: the `Event` union, `decode_event` and `encode_event`.

Decoding never imports or looks up a class by a name read from a message: `event_type` selects
a member of the fixed discriminated union below, or the message is rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeAlias, get_args

import pydantic_core
from pydantic import Field, TypeAdapter, ValidationError

from schemas._envelope import EventEnvelope
from schemas._reasons import describe_validation_error, short_repr
from schemas.appointment_events import AppointmentDeleted, AppointmentUpserted
from schemas.contact_events import ContactDeleted, ContactUpserted
from schemas.exceptions import UpcastError
from schemas.note_events import NoteDeleted, NoteUpserted
from schemas.task_events import TaskDeleted, TaskUpserted
from schemas.upcasting import upcast

__all__ = [
    "CURRENT_SCHEMA_VERSIONS",
    "EVENT_TYPES",
    "Event",
    "EventDecodeError",
    "EventType",
    "decode_event",
    "encode_event",
]

EventType: TypeAlias = Literal[
    "contact.upserted",
    "contact.deleted",
    "task.upserted",
    "task.deleted",
    "note.upserted",
    "note.deleted",
    "appointment.upserted",
    "appointment.deleted",
]
"""Every event type on `ghl.events`."""

Event: TypeAlias = Annotated[
    ContactUpserted
    | ContactDeleted
    | TaskUpserted
    | TaskDeleted
    | NoteUpserted
    | NoteDeleted
    | AppointmentUpserted
    | AppointmentDeleted,
    Field(discriminator="event_type"),
]
"""Any canonical event, discriminated by `event_type`."""

EVENT_TYPES: Mapping[str, type[EventEnvelope]] = MappingProxyType(
    {cls.model_fields["event_type"].default: cls for cls in get_args(get_args(Event)[0])}
)
"""The closed registry: event type -> event class, read from the `Event` union (declared
once, there)."""

CURRENT_SCHEMA_VERSIONS: Mapping[str, int] = MappingProxyType(
    {name: int(cls.model_fields["schema_version"].default) for name, cls in EVENT_TYPES.items()}
)
"""The schema version each event type is written at today."""

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDecodeError:
    """Why an event could not be decoded, with its type and version when they were readable."""

    reason: str
    event_type: str | None = None
    schema_version: int | None = None


def encode_event(event: Event) -> bytes:
    """Serialise an event as compact JSON, leaving out null fields (absent means null).

    Leaving them out shrinks a contact event by a third and its decoding by as much; the
    projections decode every event, so this is their largest cost.
    """
    return _EVENT_ADAPTER.dump_json(event, exclude_none=True)


_EVENT_TYPE_FIELD = re.compile(rb'"event_type"\s*:\s*"([a-z.]{1,64})"')


def _decode_current(data: bytes | str) -> Event | None:
    """The event if it is valid at its current version, else None (the caller explains why).

    Validating against the one class its `event_type` names costs half of what the
    discriminated union costs on JSON input: the union must parse the document into an
    intermediate value to find the tag. The class's own `event_type` Literal re-checks what
    the search found, so a misleading match can only send the document to the slow path.
    """
    raw = data.encode() if isinstance(data, str) else data
    found = _EVENT_TYPE_FIELD.search(raw)
    cls = EVENT_TYPES.get(found.group(1).decode()) if found else None
    if cls is None:
        return None
    try:
        event = cls.model_validate_json(raw)
    except ValidationError:
        return None
    # The classes default their version for builders; on the wire it must be written.
    return event if "schema_version" in event.model_fields_set else None  # type: ignore[return-value]


def decode_event(data: bytes | str) -> Event | EventDecodeError:
    """Decode an event from JSON, upcasting older schema versions first.

    Never raises for bad input: invalid JSON, a non-object, a missing or unknown
    `event_type`, an unknown `schema_version`, a failed upcast or a validation failure all
    give an `EventDecodeError` whose `reason` says what (and which field) was wrong.
    """
    # The common case, an event at its current version, in one pass of pydantic's parser;
    # anything else takes the slow path below, which upcasts or says precisely what is wrong.
    fast = _decode_current(data)
    if fast is not None:
        return fast
    try:
        raw: Any = pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError as exc:
        return EventDecodeError(reason=f"not JSON: {exc}")
    if not isinstance(raw, dict):
        return EventDecodeError(reason=f"not a JSON object but {type(raw).__name__}")

    event_type = raw.get("event_type")
    if not isinstance(event_type, str):
        return EventDecodeError(
            reason=f"missing or non-string event_type: {short_repr(event_type)}"
        )
    if event_type not in EVENT_TYPES:
        return EventDecodeError(
            reason=f"unknown event_type {short_repr(event_type)}", event_type=event_type
        )

    version = raw.get("schema_version")
    if type(version) is not int:
        return EventDecodeError(
            reason=f"missing or non-integer schema_version: {short_repr(version)}",
            event_type=event_type,
        )
    current = CURRENT_SCHEMA_VERSIONS[event_type]
    document: bytes | str = data
    if version != current:
        try:
            upgraded = upcast(raw)
        except UpcastError as exc:
            return EventDecodeError(
                reason=f"cannot upcast: {exc}", event_type=event_type, schema_version=version
            )
        if upgraded.get("schema_version") != current:
            return EventDecodeError(
                reason=f"unknown schema_version {version} for {event_type} (current: {current})",
                event_type=event_type,
                schema_version=version,
            )
        # Strict models read ISO times only from JSON, so the upgraded dict goes back to text.
        document = json.dumps(upgraded)

    try:
        return _EVENT_ADAPTER.validate_json(document)
    except ValidationError as exc:
        return EventDecodeError(
            reason=describe_validation_error(exc, drop_prefix=event_type),
            event_type=event_type,
            schema_version=version,
        )
