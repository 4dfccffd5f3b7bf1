"""The projections' hot path: event JSON straight to row values, without a pydantic model.

Building a pydantic model per event was a third of the projection worker's CPU. This
decoder reads an event with one call of pydantic-core's JSON parser and checks the dict
against tables derived from the models in `schemas/` at import time (field names, which
are required, which are text, flags, GHL times, nested objects or lists of them, and the
Literal values of the envelope), so `schemas/` stays the only definition of an event.

It never rejects anything. It either proves that the models would accept the event and
produce the same row (then it returns a `FastEvent`), or it returns None and the caller asks
the models (`schemas.decode_event`), which accept, upcast, or reject with their reason. So
what is dead-lettered is exactly what the models reject, by construction; the tests prove
the other half with hypothesis: whatever the fast decoder accepts, the models accept and map
to the same row (tests/unit/projections/test_projection_fastpath.py).

It only accepts what it can check cheaply and exactly, which is what `encode_event` writes:
no `null` anywhere (the encoder leaves nulls out; the models would drop them from the row's
JSON), no `\\u` escapes, text fields holding strings (the models would turn a number into
text), flags holding booleans, and times written exactly as pydantic writes them back
(`2026-01-01T00:00:00Z`, an offset in whole minutes), so the payload's JSON is the row's
`data` as it stands. Everything else takes the models' path: older schema versions, webhooks'
loose scalars, blank times.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from pydantic import BaseModel, JsonValue
from pydantic.fields import FieldInfo
from pydantic_core import from_json, to_json

from schemas import (
    EVENT_TYPES,
    DeletedEvent,
    EventDecodeError,
    EventEnvelope,
    Tombstone,
    UpsertedEvent,
    decode_event,
    parse_ghl_time,
)
from schemas import Event as ModelEvent
from streams.projections.rows import (
    COLUMN_MAPPERS,
    TABLES,
    Key,
    RowImage,
    Stamp,
    row_for,
    tombstone_row,
)

__all__ = ["FastEvent", "decode", "decode_fast", "newest_rows", "row_of"]


class FastEvent(NamedTuple):
    """An event the fast decoder accepted: its row's key and stamp, and its payload."""

    table: str
    location_id: str
    id: str
    contact_id: str
    stamp: Stamp
    payload: dict[str, Any]
    """The payload as parsed (times still as text): the row's `data`."""
    times: dict[str, datetime]
    """The payload's GHL times, parsed."""

    @property
    def key(self) -> Key:
        """(table, location_id, id)."""
        return (self.table, self.location_id, self.id)


# -- field tables derived from the models ------------------------------------------------------

_STR, _BOOL, _TIME, _STRLIST, _ANY = "str", "bool", "time", "strlist", "any"


@dataclass(frozen=True)
class _Table:
    """What the fast decoder checks of one GHL model's JSON object."""

    kinds: Mapping[str, Any]
    """Field name → a kind above, a nested `_Table`, or `(list, _Table)`."""
    required: frozenset[str]


def _kind(field: FieldInfo, owner: str, name: str) -> Any:
    annotation = field.annotation
    if str(annotation) == "JsonValue" or annotation == JsonValue:
        return _ANY
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = len(args) < len(typing.get_args(annotation))
    if not optional and annotation is str:
        return _STR
    if len(args) == 1:
        (inner,) = args
        if inner is str:
            return _STR
        if inner is bool:
            return _BOOL
        if typing.get_origin(inner) is typing.Annotated:
            base, *meta = typing.get_args(inner)
            if base is datetime and any(getattr(m, "func", None) is parse_ghl_time for m in meta):
                return _TIME
        if typing.get_origin(inner) is list:
            (item,) = typing.get_args(inner)
            if item is str:
                return _STRLIST
            if isinstance(item, type) and issubclass(item, BaseModel):
                return (list, _table(item))
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return _table(inner)
    # A field type the fast decoder does not know must not be guessed at: fail at import,
    # so a change in schemas/ is noticed by the tests instead of decoding differently.
    raise TypeError(f"fast path: no check for {owner}.{name}: {annotation!r}")


def _table(model: type[BaseModel]) -> _Table:
    extra = model.model_config.get("extra")
    if extra != "allow" or model.model_config.get("strict"):
        raise TypeError(f"fast path: {model.__name__} is not a lax extra='allow' GHL model")
    return _Table(
        kinds={n: _kind(f, model.__name__, n) for n, f in model.model_fields.items()},
        required=frozenset(n for n, f in model.model_fields.items() if f.is_required()),
    )


@dataclass(frozen=True)
class _Spec:
    """What the fast decoder checks of one event type."""

    table: str
    event_type: str
    schema_version: int
    entity_type: str
    allowed: frozenset[str]
    required: frozenset[str]
    payload: _Table | None
    """None for a tombstone."""


_ENVELOPE_TEXT: Final = ("event_id", "location_id", "entity_id", "contact_id")
_ENVELOPE_OPTIONAL_TEXT: Final = ("causation_id", "correlation_id")
_ENVELOPE_FIELDS: Final = frozenset(
    {
        *_ENVELOPE_TEXT,
        *_ENVELOPE_OPTIONAL_TEXT,
        "event_type",
        "schema_version",
        "entity_type",
        "occurred_at",
        "observed_at",
        "source",
        "payload",
    }
)


def _literal(cls: type[EventEnvelope], name: str) -> Any:
    (value,) = typing.get_args(cls.model_fields[name].annotation)
    return value


def _spec(event_type: str, cls: type[EventEnvelope]) -> _Spec:
    fields = cls.model_fields
    if set(fields) != _ENVELOPE_FIELDS or cls.model_config.get("extra") != "forbid":
        raise TypeError(f"fast path: the envelope of {event_type} changed: {sorted(fields)}")
    if issubclass(cls, DeletedEvent):
        if set(Tombstone.model_fields) != {"id", "deleted_at"}:
            raise TypeError("fast path: the tombstone changed")
        payload = None
    elif issubclass(cls, UpsertedEvent):
        payload = _table(fields["payload"].annotation)  # type: ignore[arg-type]
    else:
        raise TypeError(f"fast path: {event_type} is neither a snapshot nor a tombstone")
    entity_type = _literal(cls, "entity_type")
    return _Spec(
        table=TABLES[entity_type],
        event_type=_literal(cls, "event_type"),
        schema_version=_literal(cls, "schema_version"),
        entity_type=entity_type,
        allowed=frozenset(fields),
        # The classes default event_type, schema_version and entity_type for builders; on
        # the wire the fast path wants them written (anything else: the models decide).
        required=frozenset(n for n, f in fields.items() if f.is_required())
        | {"event_type", "schema_version", "entity_type"},
        payload=payload,
    )


_SPECS: Final[Mapping[str, _Spec]] = {name: _spec(name, cls) for name, cls in EVENT_TYPES.items()}
_SOURCES: Final = frozenset(typing.get_args(EventEnvelope.model_fields["source"].annotation))


# -- checks ------------------------------------------------------------------------------------


_WRITTEN_TIME: Final = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?(?:Z|[+-]\d\d:\d\d)"
).fullmatch


def _time(text: Any) -> datetime | None:
    """`text` as an aware time if it is exactly how pydantic writes that time, else None.

    Pydantic writes `datetime.isoformat()` with `Z` for a zero offset: microseconds only
    when there are some, and an offset in whole minutes here (the pattern allows no more).
    """
    if type(text) is not str:
        return None
    if len(text) == 20 and text[19] == "Z":
        # The common shape, checked without the pattern: `fromisoformat` reads the digits at
        # these positions and takes nothing but ASCII digits there, so the separators are all
        # that is left to check, and such a text has no fraction or offset to refuse.
        if (
            text[4] != "-"
            or text[7] != "-"
            or text[10] != "T"
            or text[13] != ":"
            or text[16] != ":"
        ):
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    if _WRITTEN_TIME(text) is None:
        return None
    if text.endswith(("+00:00", "-00:00", ".000000Z")) or text[19:26] == ".000000":
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _valid(table: _Table, obj: Any, times: dict[str, datetime] | None) -> bool:
    """Whether the model of `table` takes `obj` as it stands; parsed times go to `times`."""
    if type(obj) is not dict or not table.required <= obj.keys():
        return False
    kinds = table.kinds
    for name, value in obj.items():
        kind = kinds.get(name)
        if kind is None or kind is _ANY:
            continue  # an unknown key is kept as it is (extra="allow"), as is any JSON value
        if kind is _STR:
            if type(value) is not str:
                return False
        elif kind is _TIME:
            parsed = _time(value)
            if parsed is None:
                return False
            if times is not None:
                times[name] = parsed
        elif kind is _BOOL:
            if type(value) is not bool:
                return False
        elif kind is _STRLIST:
            if type(value) is not list or not all(type(v) is str for v in value):
                return False
        elif type(kind) is tuple:
            if type(value) is not list or not all(_valid(kind[1], v, None) for v in value):
                return False
        elif not _valid(kind, value, None):
            return False
    return True


def decode_fast(raw: bytes) -> FastEvent | None:
    """The event's row key, stamp and payload if the models surely accept it, else None."""
    if b"null" in raw or b"\\u" in raw:
        return None
    try:
        doc = from_json(raw, allow_inf_nan=False, cache_strings=False)
    except ValueError:
        return None
    if type(doc) is not dict:
        return None
    event_type = doc.get("event_type")
    spec = _SPECS.get(event_type) if type(event_type) is str else None
    if spec is None or not doc.keys() <= spec.allowed or not spec.required <= doc.keys():
        return None
    version = doc["schema_version"]
    if type(version) is not int or version != spec.schema_version:
        return None
    source = doc["source"]
    if doc["entity_type"] != spec.entity_type or type(source) is not str or source not in _SOURCES:
        return None
    for name in _ENVELOPE_TEXT:
        value = doc[name]
        if type(value) is not str or not value:
            return None
    for name in _ENVELOPE_OPTIONAL_TEXT:
        if name in doc and type(doc[name]) is not str:
            return None
    observed = _time(doc["observed_at"])
    if observed is None or ("occurred_at" in doc and _time(doc["occurred_at"]) is None):
        return None
    payload = doc["payload"]
    times: dict[str, datetime] = {}
    if spec.payload is None:
        if type(payload) is not dict or not payload.keys() <= {"id", "deleted_at"}:
            return None
        id_ = payload.get("id")
        if type(id_) is not str or not id_:
            return None
        deleted_at = None
        if "deleted_at" in payload:
            deleted_at = _time(payload["deleted_at"])
            if deleted_at is None:
                return None
        stamp = Stamp(deleted_at or observed, True, doc["event_id"])
    else:
        if not _valid(spec.payload, payload, times):
            return None
        stamp = Stamp(times.get("dateUpdated") or observed, False, doc["event_id"])
    return FastEvent(
        spec.table,
        doc["location_id"],
        doc["entity_id"],
        doc["contact_id"],
        stamp,
        payload,
        times,
    )


# -- rows --------------------------------------------------------------------------------------


class _Fields(dict[str, Any]):
    """A payload read like a model: a missing field is None."""

    # dict.get itself, not a Python function around it: no frame per field read.
    __getattr__ = dict.get


def row_of(event: FastEvent | ModelEvent) -> RowImage:
    """The row image of an event from either decoder."""
    if not isinstance(event, FastEvent):
        return row_for(event)
    table = event.table
    if event.stamp.deleted:
        return tombstone_row(table, event.location_id, event.id, event.contact_id, event.stamp)
    payload = event.payload
    fields = _Fields(payload)
    if event.times:
        fields.update(event.times)
    return RowImage(
        table,
        event.location_id,
        event.id,
        event.contact_id,
        event.stamp,
        COLUMN_MAPPERS[table](fields),
        to_json(payload).decode(),
        tuple(payload.get("tags") or ()) if table == "contacts" else (),
    )


def newest_rows(events: Iterable[FastEvent | ModelEvent]) -> dict[Key, RowImage]:
    """`rows.newest_rows` for events from either decoder."""
    winners: dict[Key, tuple[Stamp, FastEvent | ModelEvent]] = {}
    for event in events:
        if isinstance(event, FastEvent):
            key, stamp = (event.table, event.location_id, event.id), event.stamp
        else:
            key = (TABLES[event.entity_type], event.location_id, event.entity_id)
            stamp = Stamp(event.version, isinstance(event, DeletedEvent), event.event_id)
        held = winners.get(key)
        if held is None or held[0] < stamp:
            winners[key] = (stamp, event)
    return {key: row_of(event) for key, (_, event) in winners.items()}


def decode(raw: bytes) -> FastEvent | ModelEvent | EventDecodeError:
    """The fast decoder's event, else the models' event or their reason for rejecting it."""
    fast = decode_fast(raw)
    return fast if fast is not None else decode_event(raw)
