"""Normalize without I/O: decoding, coalescing, the fetch table, tombstones, determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fake_fetcher import FakeFetcher

from schemas import Appointment, Contact, Task
from schemas.raw import RawDelivery
from streams.normalize import Decoded, Invalid, MissingContact, Skipped, coalesce, decode, resolve

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 8, 5, tzinfo=UTC)


def _record(payload: dict[str, Any], received: datetime = T0) -> tuple[bytes, bytes, list[Any]]:
    body = json.dumps({"locationId": "L", "webhookId": "w", **payload}).encode()
    d = RawDelivery(body=body, received_at=received, webhook_id="w", key="L:c1")
    return body, d.key.encode(), d.headers()


def _decoded(*payloads: dict[str, Any]) -> list[Decoded]:
    out = []
    for i, p in enumerate(payloads):
        item = decode(*_record(p), i)
        assert isinstance(item, Decoded)
        out.append(item)
    return out


def test_bad_records_are_invalid_and_foreign_events_skipped() -> None:
    body, key, headers = _record({"type": "ContactCreate", "id": "c1"})
    assert isinstance(decode(body, key, [], 0), Invalid)
    assert isinstance(decode(b"{nope", key, headers, 0), Invalid)
    assert isinstance(decode(*_record({"type": "ContactCreate"}), 0), Invalid)  # no id
    assert isinstance(decode(*_record({"type": "AppInstall"}), 0), Skipped)


def test_a_burst_on_one_entity_is_one_group() -> None:
    items = _decoded(
        {"type": "ContactUpdate", "id": "c1"},
        {"type": "ContactTagUpdate", "id": "c1"},
        {"type": "NoteCreate", "id": "n1", "contactId": "c1"},
        {"type": "ContactDndUpdate", "id": "c1"},
    )
    groups = coalesce(items)
    assert [(g.kind, g.entity_id, len(g.items)) for g in groups] == [
        ("contact", "c1", 3),
        ("note", "n1", 1),
    ]


async def test_contact_webhooks_are_fetched_once_per_burst() -> None:
    fetcher = FakeFetcher()
    fetcher.contacts["c1"] = Contact(id="c1", firstName="Ada", dateUpdated=T0)
    [group] = coalesce(
        _decoded({"type": "ContactUpdate", "id": "c1"}, {"type": "ContactTagUpdate", "id": "c1"})
    )
    [event] = await resolve(group, fetcher, lambda: T1)
    assert fetcher.calls == ["contact c1"]
    assert event.event_type == "contact.upserted"
    assert event.observed_at == T1
    assert event.key == "L:c1"


async def test_fetch_404_becomes_a_tombstone() -> None:
    fetcher = FakeFetcher()
    [group] = coalesce(_decoded({"type": "NoteUpdate", "id": "n1", "contactId": "c1"}))
    [event] = await resolve(group, fetcher, lambda: T1)
    assert (event.event_type, event.entity_id, event.contact_id) == ("note.deleted", "n1", "c1")


async def test_delete_webhooks_need_no_fetch() -> None:
    fetcher = FakeFetcher()
    [group] = coalesce(
        _decoded(
            {"type": "TaskComplete", "id": "t1", "contactId": "c1"},
            {"type": "TaskDelete", "id": "t1", "contactId": "c1", "timestamp": T1.isoformat()},
        )
    )
    [event] = await resolve(group, fetcher, lambda: T1)
    assert fetcher.calls == []
    assert event.event_type == "task.deleted"
    assert event.observed_at == T0  # the raw record's receive time
    assert event.version == T1  # deleted_at: the webhook's timestamp


async def test_task_create_without_contact_is_found_through_the_search() -> None:
    fetcher = FakeFetcher()
    fetcher.tasks["t1"] = Task(id="t1", title="Call back", contactId="c7", completed=False)
    [group] = coalesce(_decoded({"type": "TaskCreate", "id": "t1", "title": "Call back"}))
    [event] = await resolve(group, fetcher, lambda: T1)
    assert fetcher.calls == ["find t1 Call back"]
    assert event.contact_id == "c7"


async def test_task_create_without_contact_that_is_gone_is_left_to_the_poller() -> None:
    [group] = coalesce(_decoded({"type": "TaskCreate", "id": "t1"}))
    assert await resolve(group, FakeFetcher(), lambda: T1) == []


async def test_appointments_are_taken_from_the_contact_list() -> None:
    fetcher = FakeFetcher()
    fetcher.appts["a1"] = Appointment(id="a1", contactId="c1", status="booked", dateUpdated=T0)
    payload = {"type": "AppointmentUpdate", "appointment": {"id": "a1", "contactId": "c1"}}
    [group] = coalesce(_decoded(payload))
    [event] = await resolve(group, fetcher, lambda: T1)
    assert event.event_type == "appointment.upserted"
    assert event.payload.model_dump(exclude_none=True)["status"] == "booked"  # type: ignore[union-attr]
    del fetcher.appts["a1"]
    [gone] = await resolve(group, fetcher, lambda: T1)
    assert gone.event_type == "appointment.deleted"


async def test_a_note_without_contact_cannot_be_resolved() -> None:
    [group] = coalesce(_decoded({"type": "NoteDelete", "id": "n1"}))
    with pytest.raises(MissingContact):
        await resolve(group, FakeFetcher(), lambda: T1)


async def test_reprocessing_gives_the_same_event_ids() -> None:
    fetcher = FakeFetcher()
    fetcher.contacts["c1"] = Contact(id="c1", firstName="Ada", dateUpdated=T0)
    fetcher.tasks["t1"] = Task(id="t1", title="x", contactId="c1", completed=True)
    items = _decoded(
        {"type": "ContactUpdate", "id": "c1"},
        {"type": "TaskComplete", "id": "t1", "contactId": "c1"},
        {"type": "ContactDelete", "id": "c9"},
    )
    first = [e for g in coalesce(items) for e in await resolve(g, fetcher, lambda: T1)]
    again = [e for g in coalesce(items) for e in await resolve(g, fetcher, lambda: T0)]
    assert [e.event_id for e in first] == [e.event_id for e in again]
