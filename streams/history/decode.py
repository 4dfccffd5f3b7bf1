"""Event records to history snapshots, cheaply where that is exact.

Building a pydantic model per event cost the history consumer more than the whole projection
path (bench/history.py). `decode_snapshot` reads the record with one call of pydantic-core's
JSON parser and takes the snapshot straight from the dict when the record is what
`encode_event` writes at the current schema version of a type in the closed registry: every
envelope field present with its type, no nulls, times that parse as aware ISO times. Anything
else goes through `schemas.decode_event` (the closed registry with upcasting), which accepts,
upcasts or rejects it. A test checks both paths give the same snapshot
(tests/unit/history/test_history_decode.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, get_args

from pydantic_core import from_json

from schemas import CURRENT_SCHEMA_VERSIONS, EventDecodeError, Source, decode_event
from streams.history.rows import Snapshot, snapshot_for

__all__ = ["decode_snapshot"]

_SOURCES: Final = frozenset(get_args(Source))
_TEXT: Final = ("event_id", "location_id", "entity_id", "contact_id")
_ENVELOPE: Final = frozenset(
    {
        "event_id", "event_type", "schema_version", "location_id", "entity_type", "entity_id",
        "contact_id", "occurred_at", "observed_at", "source", "causation_id",
        "correlation_id", "payload",
    }
)  # fmt: skip


def _time(value: Any) -> datetime | None:
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _fast(raw: Any) -> Snapshot | None:
    if type(raw) is not dict or not raw.keys() <= _ENVELOPE:
        return None
    event_type = raw.get("event_type")
    version = raw.get("schema_version")
    if type(event_type) is not str or CURRENT_SCHEMA_VERSIONS.get(event_type) != version:
        return None
    if type(version) is not int:
        return None
    entity_type, _, action = event_type.partition(".")
    if raw.get("entity_type") != entity_type or raw.get("source") not in _SOURCES:
        return None
    if any(type(raw.get(k)) is not str or not raw[k] for k in _TEXT):
        return None
    payload = raw.get("payload")
    observed = _time(raw.get("observed_at"))
    if type(payload) is not dict or observed is None or payload.get("id") != raw["entity_id"]:
        return None
    occurred = None
    if "occurred_at" in raw:
        occurred = _time(raw["occurred_at"])
        if occurred is None:
            return None
    deleted = action == "deleted"
    stamp_field = "deleted_at" if deleted else "dateUpdated"
    stamp = observed
    if stamp_field in payload:
        parsed = _time(payload[stamp_field])
        if parsed is None:
            return None
        stamp = parsed
    if deleted and not payload.keys() <= {"id", "deleted_at"}:
        return None
    data = {"id": raw["entity_id"]} if deleted else payload
    return Snapshot(
        location_id=raw["location_id"],
        contact_id=raw["contact_id"],
        entity_type=entity_type,
        entity_id=raw["entity_id"],
        version=stamp,
        deleted=deleted,
        event_id=raw["event_id"],
        event_type=event_type,
        occurred_at=occurred,
        observed_at=observed,
        source=raw["source"],
        data=data,
    )


def decode_snapshot(value: bytes) -> Snapshot | None:
    """The snapshot a record's event leaves; None when the record is not a valid event."""
    try:
        fast = _fast(from_json(value))
    except ValueError:
        fast = None
    if fast is not None and not _has_null(fast.data):
        return fast
    event = decode_event(value)
    return None if isinstance(event, EventDecodeError) else snapshot_for(event)


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is dict:
        return any(_has_null(v) for v in value.values())
    if type(value) is list:
        return any(_has_null(v) for v in value)
    return False
