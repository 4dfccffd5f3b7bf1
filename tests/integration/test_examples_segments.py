"""The example segments consumer on the real broker: new, changed and deleted contacts routed
by source, tags and a custom field; duplicates, late older snapshots and a bad record change
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import pytest

from examples.segments.consumer import SegmentsConsumer
from examples.segments.rules import Routed, Rules
from schemas import Contact, ContactDeleted, ContactUpserted, CustomFieldValue, encode_event
from tests.conftest import TopicFactory
from tests.factories import T0, produce

pytestmark = pytest.mark.integration

RULES = Rules(
    by_source={"facebook": "paid-social"},
    by_tag={"vip": "vip"},
    by_custom_field=("tier", {"hot": "sales-now"}),
)


def _upsert(cid: str, minutes: int, **fields: object) -> ContactUpserted:
    at = T0 + timedelta(minutes=minutes)
    contact = Contact.model_validate({"id": cid, "locationId": "L", "dateUpdated": at, **fields})
    return ContactUpserted.build(location_id="L", contact=contact, source="webhook", observed_at=at)


async def test_contacts_are_routed_once_per_change_on_the_real_broker(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic("examples", partitions=2)
    first = _upsert("a", 1, source="Facebook", tags=["x"])
    events = [
        first,
        _upsert("b", 1, tags=["VIP"]),
        _upsert("c", 1, customFields=[CustomFieldValue(id="tier", value="cold")]),
        first,  # duplicate
        _upsert("a", 3, source="Facebook", tags=["vip"]),  # changed: + vip
        _upsert("a", 2, source="Facebook"),  # an older snapshot arriving late
        _upsert("c", 4, customFields=[CustomFieldValue(id="tier", value="hot")]),
        _upsert("b", 5, tags=["VIP"], firstName="B"),  # same segments: nothing
        ContactDeleted.build(
            location_id="L", contact_id="b", source="reconcile", observed_at=T0 + timedelta(hours=1)
        ),
    ]
    values = [encode_event(e) for e in events]
    keys = [e.key.encode() for e in events]
    values.insert(3, b'{"event_type": "contact.exploded"}')
    keys.insert(3, b"L:a")
    await produce(kafka_bootstrap, topic, values, keys)

    routed: list[Routed] = []
    seen = asyncio.Event()

    async def deliver(item: Routed) -> None:
        routed.append(item)
        if len(routed) == 6:
            seen.set()

    consumer = SegmentsConsumer(
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        group_id=f"segments-{uuid.uuid4().hex[:8]}",
        rules=RULES,
        deliver=deliver,
    )
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(seen.wait(), timeout=60)
        await asyncio.sleep(1.0)  # anything more would be a wrong routing
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    by_contact: dict[str, list[tuple[str, list[str]]]] = {}
    for r in routed:
        by_contact.setdefault(r.contact_id, []).append((r.kind, sorted(r.segments)))
    assert by_contact == {
        "a": [("new", ["paid-social"]), ("changed", ["paid-social", "vip"])],
        "b": [("new", ["vip"]), ("deleted", [])],
        "c": [("new", ["unsorted"]), ("changed", ["sales-now"])],
    }
    assert consumer.skipped == 1
