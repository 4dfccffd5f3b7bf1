"""Upcasters: pure steps that bring a stored event's JSON to the current `schema_version`.

The event log is never rewritten; old shapes are upgraded on read, one version at a time. A
step is a pure `dict -> dict` function keyed by the `(event_type, schema_version)` it reads,
and returns the next version's dict (with `schema_version` incremented). `event_id` is never
changed: it names the fact, whatever shape the fact is stored in.

Steps:

- `appointment.upserted` v1 -> v2: v1 stored the payload in the webhook's nested shape
  `{"appointment": {...}}`; v2 stores the Appointment flat, as the REST API returns it,
  with the envelope's `location_id` as `locationId` when the record lacks one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

from schemas.exceptions import UpcastError

__all__ = ["UPCASTERS", "Upcaster", "upcast"]

Upcaster: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]
"""A pure step from one schema version of an event type's JSON to the next."""


def _appointment_upserted_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise UpcastError("appointment.upserted v1: payload is not an object")
    record = payload.get("appointment")
    if not isinstance(record, dict):
        raise UpcastError("appointment.upserted v1: payload.appointment is not an object")
    # v1 payloads held nothing beside the record; anything else would be lost by unwrapping.
    others = sorted(key for key in payload if key != "appointment")
    if others:
        raise UpcastError(f"appointment.upserted v1: unexpected payload keys {others}")
    flat = dict(record)
    # The REST shape always has locationId; the nested webhook record never did.
    location_id = raw.get("location_id")
    if flat.get("locationId") is None and isinstance(location_id, str):
        flat["locationId"] = location_id
    return {**raw, "schema_version": 2, "payload": flat}


UPCASTERS: Mapping[tuple[str, int], Upcaster] = MappingProxyType(
    {
        ("appointment.upserted", 1): _appointment_upserted_v1_to_v2,
    }
)
"""Every upcast step, keyed by the `(event_type, schema_version)` it upgrades from."""


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Apply upcast steps to an event's JSON object until none applies; `raw` is not changed.

    The result is at the newest version the steps know; whether that is the event type's
    current version is for the caller (`decode_event`) to check. Raises `UpcastError` when a
    stored event does not have the shape its version promises.
    """
    current = raw
    while True:
        event_type = current.get("event_type")
        version = current.get("schema_version")
        # bool is an int subclass; `true` is not a version.
        if not isinstance(event_type, str) or type(version) is not int:
            return current
        step = UPCASTERS.get((event_type, version))
        if step is None:
            return current
        upgraded = step(current)
        # A step that does not advance the version would loop forever.
        if upgraded.get("schema_version") != version + 1:
            raise UpcastError(
                f"upcaster for {event_type} v{version} did not produce v{version + 1}"
            )
        current = upgraded
