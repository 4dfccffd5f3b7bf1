"""`ghl-sync tail`'s reader on the real broker: filters, upcasting of an old schema version,
and a bad record shown with its reason instead of stopping the tail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schemas import AppointmentUpserted, Contact, ContactUpserted, encode_event
from services.tail import EventFilter, format_text, tail_events
from tests.conftest import TopicFactory
from tests.factories import T0, produce

pytestmark = pytest.mark.integration

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "appointment.upserted.v1.json"


def _contact(cid: str, loc: str) -> ContactUpserted:
    contact = Contact(id=cid, locationId=loc, dateUpdated=T0 + timedelta(minutes=1))
    return ContactUpserted.build(location_id=loc, contact=contact, source="poll", observed_at=T0)


async def _read(bootstrap: str, topic: str, only: EventFilter | None = None) -> list:
    return [
        r
        async for r in tail_events(
            bootstrap, topic, from_beginning=True, only=only, stop_at_end=True
        )
    ]


async def test_tail_filters_upcasts_and_reports_bad_records(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic("tail", partitions=2)
    events = [_contact("a", "L1"), _contact("b", "L1"), _contact("c", "L2")]
    values = [encode_event(e) for e in events] + [OLD.read_bytes().strip(), b"{broken"]
    keys = [e.key.encode() for e in events] + [b"old", b"bad"]
    await produce(kafka_bootstrap, topic, values, keys)

    everything = await _read(kafka_bootstrap, topic)
    assert len(everything) == 5
    upcast = [r.event for r in everything if isinstance(r.event, AppointmentUpserted)]
    assert len(upcast) == 1
    assert upcast[0].schema_version == 2
    bad = [r for r in everything if hasattr(r.event, "reason")]
    assert len(bad) == 1
    assert "not an event" in format_text(bad[0])

    only_l1 = await _read(kafka_bootstrap, topic, EventFilter(locations=["L1"]))
    good = [r.event.contact_id for r in only_l1 if not hasattr(r.event, "reason")]
    assert sorted(good) == ["a", "b"]
    only_c = await _read(
        kafka_bootstrap, topic, EventFilter(contacts=["c"], event_types=["contact.upserted"])
    )
    assert [format_text(r).split()[1] for r in only_c if not hasattr(r.event, "reason")] == [
        "contact.upserted"
    ]
