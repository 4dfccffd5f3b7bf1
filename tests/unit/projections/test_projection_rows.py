"""Pure projection logic: row images, stamps, and the cascade of contact deletions."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings

from schemas import ContactDeleted, ContactUpserted, Task, TaskUpserted
from streams.projections import Stamp, hidden_by_contact, newest_rows, reference_tables, row_for
from tests.factories import T0, Redelivery, redeliveries
from tests.factories.events import _contact


def test_a_tombstone_wins_a_tie_and_the_event_id_breaks_the_rest() -> None:
    snapshot = Stamp(T0, False, "b")
    tombstone = Stamp(T0, True, "a")
    assert snapshot < tombstone
    assert Stamp(T0, False, "a") < snapshot
    assert tombstone < Stamp(T0 + timedelta(microseconds=1), False, "0")


def test_a_contact_snapshot_maps_to_typed_columns_and_keeps_unknown_fields() -> None:
    contact = _contact("c1", "loc1", 1, T0, ["vip"]).model_copy(update={"newField": 7})
    event = ContactUpserted.build(
        location_id="loc1", contact=contact, source="poll", observed_at=T0 + timedelta(minutes=1)
    )
    row = row_for(event)
    assert row.key == ("contacts", "loc1", "c1")
    assert row.columns["email"] == "c1.1@example.com"
    assert row.tags == ("vip",)
    assert row.stamp == Stamp(T0, False, event.event_id)  # dateUpdated, not observed_at
    assert '"newField":7' in row.data
    assert row.deleted_at is None


def test_a_contact_tombstone_hides_older_children_only() -> None:
    gone = ContactDeleted.build(
        location_id="loc1", contact_id="c1", source="webhook", observed_at=T0 + timedelta(hours=1)
    )
    task = TaskUpserted.build(
        location_id="loc1",
        source="poll",
        observed_at=T0,
        task=Task(id="t1", contactId="c1", title="x", dateUpdated=T0),
    )
    later = TaskUpserted.build(
        location_id="loc1",
        source="poll",
        observed_at=T0,
        task=Task(id="t1", contactId="c1", title="y", dateUpdated=T0 + timedelta(hours=2)),
    )
    hidden = hidden_by_contact(row_for(task), row_for(gone))
    assert hidden.deleted_at == T0 + timedelta(hours=1)
    assert hidden.stamp.event_id == gone.event_id
    assert hidden.columns["title"] is None
    assert hidden_by_contact(row_for(later), row_for(gone)) == row_for(later)


@settings(max_examples=200, deadline=None)
@given(redeliveries)
def test_reordering_and_duplication_do_not_change_the_result(delivery: Redelivery) -> None:
    events, shuffled = delivery
    assert reference_tables(shuffled) == reference_tables(events)
    assert newest_rows(shuffled) == newest_rows(events)
