"""A location's children sweep: one order per pass, contacts read meanwhile skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from services.poller import PollerSettings
from services.poller._location import LocationPoller
from services.poller._store import LocationSnapshot, LocationState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _poller(contacts: dict[str, tuple[datetime | None, datetime | None]]) -> LocationPoller:
    clock = {"now": T0}
    snapshot = LocationSnapshot(
        state=LocationState(),
        contacts=contacts,
        digests={"contact": {}, "task": {}, "note": {}, "appointment": {}},
        backfilled=True,
    )
    poller = LocationPoller(
        "loc", snapshot, client=cast(Any, None), store=cast(Any, None), sink=cast(Any, None),
        settings=PollerSettings(), clock=lambda: clock["now"],
    )  # fmt: skip
    poller.clock = clock  # type: ignore[attr-defined]
    return poller


def test_a_pass_reads_every_contact_once_stalest_first() -> None:
    contacts = {f"c{i}": (T0 - timedelta(hours=i), T0) for i in range(6)}
    poller = _poller(contacts)
    assert poller.oldest_swept_at() == T0 - timedelta(hours=5)
    first = poller.next_sweep(2)
    assert first == ["c5", "c4"]
    for cid in first:
        contacts[cid] = (T0, T0)
    # c3 changed and was read by the incremental poll meanwhile: the pass skips it.
    contacts["c3"] = (T0 + timedelta(seconds=1), T0)
    assert poller.next_sweep(2) == ["c2", "c1"]
    assert poller.oldest_swept_at() == T0  # c0, the last of the pass
    assert poller.next_sweep(1, skip=["c9"]) == ["c0"]


def test_a_new_pass_starts_when_the_last_one_is_done() -> None:
    contacts = {"a": (T0 - timedelta(hours=2), T0), "b": (T0 - timedelta(hours=1), T0)}
    poller = _poller(contacts)
    assert poller.next_sweep(5) == ["a", "b"]
    contacts["a"], contacts["b"] = (T0, T0), (T0, T0)
    poller.clock["now"] = T0 + timedelta(hours=1)  # type: ignore[attr-defined]
    assert poller.next_sweep(1) == ["a"]  # a new pass, ordered again


def test_deleted_contacts_leave_the_pass() -> None:
    contacts = {"a": (None, T0), "b": (T0, T0)}
    poller = _poller(contacts)
    del contacts["a"]
    assert poller.next_sweep(5) == ["b"]
