"""The events on `ghl.events.v1` against the simulator's ground truth: read the topic to its
end, reduce it to its newest live rows, and compare them with what the simulator holds, each
entity in the canonical form both sides share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas import Appointment, Contact, Event, EventDecodeError, Note, Task, decode_event
from streams.projections.rows import reference_tables

__all__ = ["assert_events_match_truth", "canonical", "read_events"]

_APPOINTMENT_FIELDS = (
    "id", "calendarId", "status", "title", "assignedUserId", "notes", "startTime", "endTime",
    "address", "locationId", "contactId", "groupId", "appointmentStatus", "users", "dateAdded",
    "dateUpdated", "assignedResources",
)  # fmt: skip
_TABLES = ("contacts", "tasks", "notes", "appointments")


def canonical(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (an entity of table `kind`, as the simulator or a row holds it) in the fields
    both carry: the REST shape without the times a webhook-built snapshot lacks."""
    if kind == "contacts":
        return Contact.model_validate(data).model_dump(mode="json", exclude_none=True)
    if kind == "tasks":
        data = {k: v for k, v in data.items() if k not in ("dateAdded", "dateUpdated")}
        return Task.model_validate(data).model_dump(mode="json", exclude_none=True)
    if kind == "notes":
        data = {k: v for k, v in data.items() if k != "dateUpdated"}
        return Note.model_validate(data).model_dump(mode="json", exclude_none=True)
    data = {k: v for k, v in data.items() if k in _APPOINTMENT_FIELDS}
    return Appointment.model_validate(data).model_dump(mode="json", exclude_none=True)


async def read_events(bootstrap: str, topic: str) -> list[Event]:
    """Every event on `topic`, read until a poll comes back empty; none may fail to decode."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events: list[Event] = []
    try:
        while batch := await consumer.getmany(timeout_ms=2000, max_records=10_000):
            for records in batch.values():
                for r in records:
                    event = decode_event(r.value)
                    assert not isinstance(event, EventDecodeError), event.reason
                    events.append(event)
    finally:
        await consumer.stop()
    return events


def assert_events_match_truth(events: list[Event], truth: Mapping[str, Any]) -> None:
    """The newest live row of every entity in `events` equals the simulator's `truth`
    (`/_admin/state` locations, by id), table by table, and no entity is missing or extra."""
    rows = reference_tables(events)
    for location_id, loc in truth.items():
        for table in _TABLES:
            expected = {item["id"]: canonical(table, item) for item in loc[table]}
            live = {
                row.id: canonical(table, json.loads(row.data))
                for (t, loc_id, _), row in rows.items()
                if t == table and loc_id == location_id and not row.stamp.deleted
            }
            assert sorted(live) == sorted(expected), f"{table} ids differ in {location_id}"
            for entity_id, data in expected.items():
                assert live[entity_id] == data, f"{table} {entity_id} differs"
