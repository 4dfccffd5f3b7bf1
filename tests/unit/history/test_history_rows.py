"""Pure history logic: entries between neighbours, exact under duplication and reordering."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings

from schemas import ContactDeleted, ContactUpserted
from streams.history.rows import (
    Change,
    apply_entries,
    as_of,
    flatten,
    history,
    snapshot_for,
)
from tests.factories import T0, Redelivery, histories, redeliveries
from tests.factories.events import _contact


def _upsert(n: int, minutes: int, tags: list[str], source: str = "webhook") -> ContactUpserted:
    contact = _contact("c1", "loc", n, T0 + timedelta(minutes=minutes), tags)
    return ContactUpserted.build(
        location_id="loc",
        contact=contact,
        source=source,  # type: ignore[arg-type]
        observed_at=T0 + timedelta(minutes=minutes, seconds=5),
    )


def test_entries_say_what_changed_field_by_field_with_both_times_and_the_source() -> None:
    first, second = _upsert(0, 1, ["a"]), _upsert(1, 2, ["a", "b"], source="poll")
    entries = history([snapshot_for(second), snapshot_for(first)])
    assert [e.action for e in entries] == ["created", "updated"]
    update = entries[1]
    assert update.snapshot.source == "poll"
    assert update.snapshot.event_id == second.event_id
    assert update.snapshot.occurred_at == T0 + timedelta(minutes=2)
    assert update.snapshot.observed_at == T0 + timedelta(minutes=2, seconds=5)
    assert update.changes == (
        Change("email", "c1.0@example.com", "c1.1@example.com"),
        Change("firstName", "First0", "First1"),
        Change("phone", "+15550000000", "+15550000001"),
        Change("tags", ["a"], ["a", "b"]),
    )


def test_a_late_older_snapshot_lands_in_its_place_and_both_neighbouring_diffs_are_right() -> None:
    a, b, c = _upsert(0, 1, ["a"]), _upsert(1, 2, ["b"]), _upsert(2, 3, ["c"])
    in_order = history(snapshot_for(e) for e in (a, b, c))
    late = history(snapshot_for(e) for e in (a, c, b))
    assert late == in_order
    assert [ch.new for e in in_order[1:] for ch in e.changes if ch.field == "tags"] == [
        ["b"],
        ["c"],
    ]


def test_a_deletion_clears_every_field_and_a_repeat_changes_nothing() -> None:
    alive = _upsert(0, 1, ["a"])
    gone = ContactDeleted.build(
        location_id="loc",
        contact_id="c1",
        source="reconcile",
        observed_at=T0 + timedelta(minutes=9),
    )
    entries = history([snapshot_for(alive), snapshot_for(gone), snapshot_for(alive)])
    assert [e.action for e in entries] == ["created", "deleted"]
    assert all(ch.new is None for ch in entries[1].changes)
    assert as_of([snapshot_for(alive), snapshot_for(gone)], T0 + timedelta(hours=1)) == {}


def test_custom_fields_become_one_field_each_and_nested_objects_dotted_keys() -> None:
    fields = flatten(
        {
            "id": "c1",
            "dateUpdated": "x",
            "customFields": [{"id": "f1", "value": 3}, {"id": "f2", "value": None}],
            "dndSettings": {"SMS": {"status": "active"}},
            "tags": ["a"],
        }
    )
    assert fields == {"customFields.f1": 3, "dndSettings.SMS.status": "active", "tags": ["a"]}


@settings(max_examples=200, deadline=None)
@given(redeliveries)
def test_any_duplication_and_reordering_gives_the_in_order_history(delivery: Redelivery) -> None:
    events, shuffled = delivery
    assert history(snapshot_for(e) for e in shuffled) == history(snapshot_for(e) for e in events)


@settings(max_examples=200, deadline=None)
@given(histories)
def test_as_of_every_event_time_is_the_state_after_applying_history_up_to_it(
    events: list,
) -> None:
    snaps = [snapshot_for(e) for e in events]
    entries = history(snaps)
    for when in sorted({s.version for s in snaps}):
        assert as_of(snaps, when) == apply_entries(entries, until=when)
