"""Normalize's bookkeeping without I/O: committed offsets never pass unfinished work, lanes
coalesce and keep per-key order, parked groups go back in place, and burst answers build the
same events as single fetches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from fake_fetcher import FakeFetcher

from schemas import Contact, Note, Task
from schemas.raw import RawDelivery
from streams.normalize import Decoded, decode, resolve
from streams.normalize.burst import Prefetched, burst_fetch
from streams.normalize.lanes import Group, Lane
from streams.normalize.offsets import OffsetTracker

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TP = TopicPartition("raw", 0)


def _item(payload: dict[str, Any], offset: int, stamp: datetime = T0) -> Decoded:
    body = json.dumps(
        {"locationId": "L", "webhookId": f"w{offset}", "timestamp": stamp.isoformat(), **payload}
    ).encode()
    d = RawDelivery(body=body, received_at=stamp, webhook_id=f"w{offset}", key="L:c")
    item = decode(body, d.key.encode(), d.headers(), offset)
    assert isinstance(item, Decoded)
    return item


class _Rec:
    def __init__(self, offset: int, key: str) -> None:
        self.topic, self.partition, self.offset, self.key = "raw", 0, offset, key.encode()
        self.value, self.headers = b"", []


def _put(lane: Lane, tracker: OffsetTracker, payload: dict[str, Any], offset: int,
         key: str = "L:c1", stamp: datetime = T0) -> None:  # fmt: skip
    lane.put(_item(payload, offset, stamp), tracker.add(TP, offset), _Rec(offset, key), key)


def test_the_committed_offset_is_the_oldest_unfinished_record() -> None:
    tracker = OffsetTracker()
    tickets = [tracker.add(TP, o) for o in (10, 11, 12, 13)]
    assert tracker.confirmed() == {TP: 10}
    tracker.done(tickets[1])
    tracker.done(tickets[2])
    assert tracker.confirmed() == {TP: 10}  # 11 and 12 are done, 10 is not: repeat, never skip
    tracker.done(tickets[0])
    assert tracker.confirmed() == {TP: 13}
    tracker.done(tickets[3])
    assert tracker.confirmed() == {TP: 14}


def test_work_finished_after_a_reassignment_does_not_count_for_the_new_owner() -> None:
    tracker = OffsetTracker()
    old = tracker.add(TP, 5)
    tracker.forget([TP])
    new = tracker.add(TP, 5)
    tracker.done(old)
    assert tracker.confirmed() == {TP: 5}
    tracker.done(new)
    assert tracker.confirmed() == {TP: 6}


def test_a_lane_coalesces_waiting_deliveries_and_keeps_one_key_in_order() -> None:
    lane, tracker = Lane("L"), OffsetTracker()
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c1"}, 0)
    _put(lane, tracker, {"type": "NoteCreate", "id": "n1", "contactId": "c1"}, 1)
    _put(lane, tracker, {"type": "ContactTagUpdate", "id": "c1"}, 2)
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c2"}, 3, key="L:c2")
    assert len(lane) == 3
    assert lane.records == 4
    first = lane.take_one()
    assert first is not None
    assert first.entity == ("contact", "c1")
    assert len(first.tickets) == 2
    # The note shares c1's key: it waits until c1's group is produced; c2 does not.
    second = lane.take_one()
    assert second is not None
    assert second.entity == ("contact", "c2")
    assert lane.take_one() is None
    # A delivery for c1 arriving while c1 is in flight makes a new group (a new fetch).
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c1"}, 4)
    lane.busy.discard(first.order_key)
    third = lane.take_one()
    assert third is not None
    assert third.entity == ("note", "n1")


def test_a_parked_group_goes_back_in_its_place_merged_with_newer_deliveries() -> None:
    lane, tracker = Lane("L"), OffsetTracker()
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c1"}, 0)
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c2"}, 1, key="L:c2")
    group = lane.take_one()
    assert group is not None
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c1"}, 2)
    lane.busy.discard(group.order_key)
    lane.put_back(group)
    assert lane.records == 3
    assert len(lane) == 2
    again = lane.take_one()
    assert again is group
    assert [t.offset for t in again.tickets] == [0, 2]
    other = lane.take_one()
    assert other is not None
    assert other.entity == ("contact", "c2")
    assert lane.take_one() is None


def test_revoked_partitions_leave_the_lane() -> None:
    lane, tracker = Lane("L"), OffsetTracker()
    _put(lane, tracker, {"type": "ContactUpdate", "id": "c1"}, 0)
    assert lane.forget([TP]) == 1
    assert lane.records == 0
    assert lane.take_one() is None


class _Ghl(FakeFetcher):
    """One GHL state, readable one by one or by the burst's list calls; logs every request."""

    def __init__(self) -> None:
        super().__init__()
        self.contacts = {
            f"c{i}": Contact(id=f"c{i}", firstName=f"N{i}", tags=["vip"], dateUpdated=T0)
            for i in range(30)
        }
        self.tasks = {"t1": Task(id="t1", title="call", contactId="c1", completed=True)}
        self.notes = {
            "n1": Note(id="n1", body="a", contactId="c2"),
            "n2": Note(id="n2", body="b", contactId="c2"),
        }
        self.stale: set[str] = set()

    async def find_task(self, location_id: str, task_id: str, *, hint: str | None) -> Task | None:
        raise AssertionError("not used")

    async def appointments(self, location_id: str, contact_id: str) -> list[Any]:
        raise AssertionError("not used")

    async def contacts_updated(
        self, location_id: str, since: datetime, until: datetime
    ) -> list[Contact]:
        self.calls.append("search contacts")
        out = []
        for c in self.contacts.values():
            if c.id in self.stale:  # the index still holds the state before the change
                out.append(c.model_copy(update={"dateUpdated": T0 - timedelta(minutes=5),
                                                "tags": []}))  # fmt: skip
            else:
                out.append(c)
        return out

    async def tasks_of(self, location_id: str, contact_ids: Any) -> list[Task]:
        self.calls.append("search tasks")
        return [t for t in self.tasks.values() if t.contactId in contact_ids]

    async def notes_of(self, location_id: str, contact_id: str) -> list[Note]:
        self.calls.append(f"list notes {contact_id}")
        return [n for n in self.notes.values() if n.contactId == contact_id]


def _groups(ghl: _Ghl) -> list[Group]:
    lane, tracker = Lane("L"), OffsetTracker()
    offset = 0
    for cid in [*list(ghl.contacts), "gone"]:
        _put(lane, tracker, {"type": "ContactTagUpdate", "id": cid}, offset, key=f"L:{cid}")
        offset += 1
    _put(lane, tracker, {"type": "TaskComplete", "id": "t1", "contactId": "c1"}, offset, key="L:x")
    for n in ("n1", "n2"):
        offset += 1
        _put(lane, tracker, {"type": "NoteUpdate", "id": n, "contactId": "c2"}, offset, key="L:y")
    return lane.take_burst(settled_before=T0 + timedelta(days=1), limit=1000)


async def test_burst_and_single_fetches_give_the_same_events_with_far_fewer_requests() -> None:
    ghl = _Ghl()
    ghl.stale = {"c3", "c4"}
    groups = _groups(ghl)
    assert len(groups) == 34
    answers = await burst_fetch(
        ghl, "L", groups, cache={}, clock=lambda: T0 + timedelta(seconds=2),
        margin=timedelta(seconds=5), tolerance=timedelta(seconds=0.25), min_search=20,
        retry_wait=0,
    )  # fmt: skip
    burst = []
    for g in groups:
        burst.extend(await resolve(g.work, Prefetched(ghl, answers.get(id(g))), lambda: T0))
    burst_requests = list(ghl.calls)
    ghl.calls.clear()
    single = [e for g in groups for e in await resolve(g.work, ghl, lambda: T0)]
    assert [e.event_id for e in burst] == [e.event_id for e in single]
    assert [e.model_dump() for e in burst] == [e.model_dump() for e in single]
    # One search (too few stale hits for a second), the task search, one note list, and
    # single reads only for what the answers lacked: the two stale contacts and the gone one.
    assert sorted(burst_requests) == sorted(
        ["search contacts", "search tasks", "list notes c2",
         "contact c3", "contact c4", "contact gone"]
    )  # fmt: skip
    assert len(ghl.calls) == 34


async def test_a_second_burst_of_the_same_bulk_action_is_answered_from_the_first() -> None:
    ghl, cache = _Ghl(), {}
    for _ in range(2):
        groups = [g for g in _groups(ghl) if g.work.kind == "contact"]
        await burst_fetch(ghl, "L", groups, cache=cache, clock=lambda: T0, margin=timedelta(0),
                          tolerance=timedelta(0), min_search=20, retry_wait=0)  # fmt: skip
    assert ghl.calls.count("search contacts") == 1
