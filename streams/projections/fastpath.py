"""The projections' hot path: event JSON straight to row values, without a pydantic model.

Building a pydantic model per event was a third of the projection worker's CPU, and checking
the parsed JSON in Python another sixth. This decoder makes one call per event: a
pydantic-core validator, compiled at import from tables derived from the models in
`schemas/` (field names, which are required, which are text, flags, GHL times, nested
objects or lists of them, and the Literal values of the envelope), parses the JSON and
checks it in Rust. `schemas/` stays the only definition of an event.

It never rejects anything. It either proves that the models would accept the event and
produce the same row (then it returns a `FastEvent`), or it returns None and the caller asks
the models (`schemas.decode_event`), which accept, upcast, or reject with their reason. So
what is dead-lettered is exactly what the models reject, by construction; the tests prove
the other half with hypothesis: whatever the fast decoder accepts, the models accept and map
to the same row (tests/unit/projections/test_projection_fastpath.py).

It only accepts what it can check exactly, which is what `encode_event` writes: no `null`
anywhere (the encoder leaves nulls out; the models would drop them from the row's JSON), no
`\\u` escapes, text fields holding strings (the models would turn a number into text), flags
holding booleans, envelope times as the models' own AwareDatetime reads them (the same
pydantic-core parser), and GHL times spelt as `encode_event` writes them (an ISO time with
`Z` or a whole-minute offset, microseconds or none), in ranges where pydantic-core and
`datetime.fromisoformat` (the models' `parse_ghl_time`) read the same instant and offset.
The row's `data` is the validated payload written back by pydantic-core's serializer, as
the models' `model_dump_json` writes it. Everything else takes the models' path: older
schema versions, webhooks' loose scalars, blank times.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeAlias

from pydantic import BaseModel, JsonValue
from pydantic.fields import FieldInfo
from pydantic_core import SchemaValidator, to_json
from pydantic_core import core_schema as cs

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
    COLUMN_SOURCES,
    COLUMNS,
    TABLES,
    TIME_COLUMNS,
    Key,
    RowImage,
    Stamp,
    row_for,
    tombstone_row,
)

__all__ = [
    "STAGED_TIMES",
    "FastEvent",
    "Newest",
    "StagedRow",
    "decode",
    "decode_fast",
    "hold_newest",
    "newest_rows",
    "newest_staged",
    "row_of",
    "staged_of",
]


class FastEvent(NamedTuple):
    """An event the fast decoder accepted: its row's key and stamp, and its payload."""

    table: str
    location_id: str
    id: str
    contact_id: str
    stamp: Stamp
    payload: dict[str, Any]
    """The payload as validated (its GHL times parsed): the row's `data` and columns."""

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


# -- the validator ---------------------------------------------------------------------------

# How `encode_event` writes a GHL time, in ASCII digits only and within the ranges Python's
# `datetime.fromisoformat` (which the models' `parse_ghl_time` uses) and pydantic-core's
# parser both read the same way: no 24:00, no leap second, no year before 1000, an offset
# in whole minutes below a day. Day-of-month is left to the datetime validator after it.
_GHL_TIME_TEXT: Final = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _ghl_time_schema() -> cs.CoreSchema:
    return cs.chain_schema(
        [
            cs.str_schema(strict=True, pattern=_GHL_TIME_TEXT),
            cs.datetime_schema(tz_constraint="aware"),
        ]
    )


_JSON_WITHOUT_NULL: Final = "json-without-null"


def _json_without_null() -> cs.CoreSchema:
    """Any JSON value with no `null` anywhere in it: what an unknown key or a `JsonValue`
    field may hold on the fast path (the models drop nulls from the row's JSON, so an event
    with one takes their path)."""
    value = cs.definition_reference_schema(_JSON_WITHOUT_NULL)
    return cs.union_schema(
        [
            cs.str_schema(strict=True),
            cs.bool_schema(strict=True),
            cs.int_schema(strict=True),
            cs.float_schema(strict=True),
            cs.list_schema(value, strict=True),
            cs.dict_schema(cs.str_schema(strict=True), value, strict=True),
        ],
        ref=_JSON_WITHOUT_NULL,
    )


def _text_schema(*, non_empty: bool = False) -> cs.CoreSchema:
    return cs.str_schema(strict=True, min_length=1 if non_empty else None)


def _kind_schema(kind: Any) -> cs.CoreSchema:
    if kind is _STR:
        return _text_schema()
    if kind is _BOOL:
        return cs.bool_schema(strict=True)
    if kind is _TIME:
        return _ghl_time_schema()
    if kind is _STRLIST:
        return cs.list_schema(_text_schema(), strict=True)
    if kind is _ANY:
        return cs.definition_reference_schema(_JSON_WITHOUT_NULL)
    if type(kind) is tuple:
        return cs.list_schema(_table_schema(kind[1]), strict=True)
    return _table_schema(kind)


def _table_schema(table: _Table) -> cs.CoreSchema:
    # extra="allow" as in the models: an unknown key is kept with whatever JSON it holds
    # (but null, as everywhere on the fast path).
    return cs.typed_dict_schema(
        {
            name: cs.typed_dict_field(_kind_schema(kind), required=name in table.required)
            for name, kind in table.kinds.items()
        },
        extra_behavior="allow",
        extras_schema=cs.definition_reference_schema(_JSON_WITHOUT_NULL),
        strict=True,
    )


def _event_schema(spec: _Spec) -> cs.CoreSchema:
    # The envelope models are strict with extra="forbid"; their times are AwareDatetime,
    # which is what `datetime_schema` below is (the same parser, the same strictness).
    aware = cs.datetime_schema(strict=True, tz_constraint="aware")
    payload: cs.CoreSchema
    if spec.payload is None:
        payload = cs.typed_dict_schema(
            {
                "id": cs.typed_dict_field(_text_schema(non_empty=True)),
                "deleted_at": cs.typed_dict_field(aware, required=False),
            },
            extra_behavior="forbid",
            strict=True,
        )
    else:
        payload = _table_schema(spec.payload)
    fields: dict[str, cs.CoreSchema] = {
        **{name: _text_schema(non_empty=True) for name in _ENVELOPE_TEXT},
        **{name: _text_schema() for name in _ENVELOPE_OPTIONAL_TEXT},
        "event_type": cs.literal_schema([spec.event_type]),
        "schema_version": cs.int_schema(
            strict=True, ge=spec.schema_version, le=spec.schema_version
        ),
        "entity_type": cs.literal_schema([spec.entity_type]),
        "source": cs.literal_schema(sorted(_SOURCES)),
        "occurred_at": aware,
        "observed_at": aware,
        "payload": payload,
    }
    if set(fields) != spec.allowed:
        raise TypeError(f"fast path: no check for {sorted(spec.allowed ^ set(fields))}")
    return cs.typed_dict_schema(
        {n: cs.typed_dict_field(s, required=n in spec.required) for n, s in fields.items()},
        extra_behavior="forbid",
        strict=True,
    )


_new: Final = tuple.__new__

_VALIDATOR: Final = SchemaValidator(
    cs.definitions_schema(
        cs.tagged_union_schema(
            {name: _event_schema(spec) for name, spec in _SPECS.items()},
            discriminator="event_type",
        ),
        [_json_without_null()],
    )
)
"""Every event type's checks in one pydantic-core validator: one call parses and checks."""


def decode_fast(raw: bytes) -> FastEvent | None:
    """The event's row key, stamp and payload if the models surely accept it, else None."""
    # A backslash is rare and found by memchr; only then is the two-byte `\\u` looked for.
    # (A null is refused by the validator: every field's schema and the unknown keys' one.)
    if b"\\" in raw and b"\\u" in raw:
        return None
    try:
        doc = _VALIDATOR.validate_json(raw)
    except ValueError:  # pydantic-core's ValidationError is one
        return None
    spec = _SPECS[doc["event_type"]]
    payload = doc["payload"]
    deleted = spec.payload is None
    version = payload.get("deleted_at" if deleted else "dateUpdated") or doc["observed_at"]
    # `tuple.__new__` builds the named tuples without the Python-level `__new__` they are
    # given (a frame per call, twice per event).
    stamp = _new(Stamp, (version, deleted, doc["event_id"]))
    return _new(
        FastEvent,
        (spec.table, doc["location_id"], doc["entity_id"], doc["contact_id"], stamp, payload),
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
    return RowImage(
        table,
        event.location_id,
        event.id,
        event.contact_id,
        event.stamp,
        COLUMN_MAPPERS[table](_Fields(payload)),
        to_json(payload).decode(),
        tuple(payload.get("tags") or ()) if table == "contacts" else (),
    )


Newest: TypeAlias = dict[Key, tuple[Stamp, "FastEvent | ModelEvent"]]
"""Row key → the stamp and event of the newest event for that row seen so far."""


def hold_newest(newest: Newest, events: Iterable[FastEvent | ModelEvent]) -> None:
    """Keep in `newest` each row's newest event among `events` and those held before."""
    for event in events:
        if isinstance(event, FastEvent):
            key, stamp = (event.table, event.location_id, event.id), event.stamp
        else:
            key = (TABLES[event.entity_type], event.location_id, event.entity_id)
            stamp = Stamp(event.version, isinstance(event, DeletedEvent), event.event_id)
        held = newest.get(key)
        if held is None or held[0] < stamp:
            newest[key] = (stamp, event)


def _winners(events: Iterable[FastEvent | ModelEvent]) -> dict[Key, FastEvent | ModelEvent]:
    newest: Newest = {}
    hold_newest(newest, events)
    return {key: event for key, (_, event) in newest.items()}


def newest_rows(events: Iterable[FastEvent | ModelEvent]) -> dict[Key, RowImage]:
    """`rows.newest_rows` for events from either decoder."""
    return {key: row_of(event) for key, event in _winners(events).items()}


class StagedRow(NamedTuple):
    """What the store writes of a row image: the typed text and flag columns are left out,
    PostgreSQL reads them out of `data` (`rows.COLUMN_SOURCES`, `store.py`).

    The times stay values: PostgreSQL cannot read every time the models take (it refuses
    offsets beyond 15:59), and pydantic writes an offset's seconds away.
    """

    table: str
    location_id: str
    id: str
    contact_id: str
    stamp: Stamp
    data: str | None
    """The payload as JSON text; None for a tombstone (the store writes `{"id": ...}`)."""
    times: tuple[datetime | None, ...]
    """The values of the table's `STAGED_TIMES` columns, in that order."""


STAGED_TIMES: Final[Mapping[str, tuple[str, ...]]] = {
    table: tuple(c for c in columns if c in TIME_COLUMNS) for table, columns in COLUMNS.items()
}
"""Table → its time columns, in `COLUMNS` order: what a `StagedRow` carries as values."""

_TIME_FIELDS: Final = {
    table: tuple(COLUMN_SOURCES[table][c][0] for c in columns)
    for table, columns in STAGED_TIMES.items()
}
_NO_TIMES: Final = {table: (None,) * len(columns) for table, columns in STAGED_TIMES.items()}


def staged_of(event: FastEvent | ModelEvent) -> StagedRow:
    """The staged row of an event from either decoder: `row_of` without the text columns."""
    if not isinstance(event, FastEvent):
        row = row_for(event)
        return StagedRow(
            row.table,
            row.location_id,
            row.id,
            row.contact_id,
            row.stamp,
            None if row.stamp.deleted else row.data,
            tuple(row.columns[c] for c in STAGED_TIMES[row.table]),
        )
    table, payload = event.table, event.payload
    if event.stamp.deleted:
        data, times = None, _NO_TIMES[table]
    else:
        data, times = to_json(payload).decode(), tuple(map(payload.get, _TIME_FIELDS[table]))
    return StagedRow(table, event.location_id, event.id, event.contact_id, event.stamp, data, times)


def newest_staged(events: Iterable[FastEvent | ModelEvent]) -> dict[Key, StagedRow]:
    """The staged row of the newest event per row (`newest_rows`, as the store writes it).

    A child is staged as it is even when its contact's newest event here is a newer
    tombstone: whether that tombstone hides it depends on the contact's row in the table
    (a newer snapshot there wins over it), so the store's cascade decides, after the merge.
    """
    return {key: staged_of(event) for key, event in _winners(events).items()}


def decode(raw: bytes) -> FastEvent | ModelEvent | EventDecodeError:
    """The fast decoder's event, else the models' event or their reason for rejecting it."""
    fast = decode_fast(raw)
    return fast if fast is not None else decode_event(raw)
