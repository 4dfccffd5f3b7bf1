"""The quota plan: shares at any size, pacing over a fake clock, staleness order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.poller.plan import PlanInputs, SweepPacer, plan_location, sweep_order

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 86_400.0


@pytest.mark.parametrize("contacts", [0, 10, 2_000, 20_000, 50_000, 100_000, 1_000_000])
def test_the_projected_spend_stays_under_the_share_at_any_size(contacts: int) -> None:
    plan = plan_location(
        PlanInputs(contacts=contacts, tasks=contacts, changes_per_day=contacts / 10,
                   children_per_contact=2)
    )  # fmt: skip
    assert plan.budget == 50_000
    assert plan.projected_daily <= plan.budget * 1.0001
    assert set(plan.projected) == {
        "incremental_poll", "task_sweep", "children_sweep", "reconciliation",
    }  # fmt: skip


def test_a_small_location_runs_every_net_at_its_wanted_period() -> None:
    plan = plan_location(PlanInputs(contacts=1_000, tasks=1_000, children_per_contact=1))
    assert plan.stretch == 1.0
    assert plan.task_sweep_seconds == 300
    assert plan.children_sweep_seconds == 3600
    assert plan.staleness_bound == 3600


def test_a_large_location_spreads_its_sweep_over_more_than_a_day() -> None:
    plan = plan_location(PlanInputs(contacts=50_000, tasks=50_000, children_per_contact=2))
    assert plan.stretch > 20
    assert plan.children_sweep_seconds > DAY
    # The same factor for every net: their proportions are kept.
    assert plan.task_sweep_seconds / plan.children_sweep_seconds == pytest.approx(300 / 3600)
    assert plan.projected_daily == pytest.approx(plan.budget, rel=1e-6)


def test_the_share_is_a_setting() -> None:
    small = plan_location(PlanInputs(contacts=50_000, tasks=0, share=0.10))
    large = plan_location(PlanInputs(contacts=50_000, tasks=0, share=0.40))
    assert small.projected_daily <= 20_000 * 1.0001
    assert large.projected_daily <= 80_000 * 1.0001
    assert small.staleness_bound > large.staleness_bound


def test_polling_that_would_eat_the_share_is_slowed_too() -> None:
    plan = plan_location(PlanInputs(contacts=10, tasks=0, cycle_seconds=1.0, daily_quota=10_000))
    assert plan.cycle_seconds > 1.0
    assert plan.projected["incremental_poll"] <= plan.budget / 2 + 1


def test_the_pacer_spreads_a_pass_over_its_period_on_a_fake_clock() -> None:
    pacer, now, swept = SweepPacer(), T0, 0
    assert pacer.earn(now, contacts=50_000, period=2 * DAY, cap=10_000) == 0
    per_cycle = []
    for _ in range(int(2 * DAY / 60)):
        now += timedelta(seconds=60)
        take = pacer.earn(now, contacts=50_000, period=2 * DAY, cap=10_000)
        per_cycle.append(take)
        swept += take
    assert 49_990 <= swept <= 50_000  # one pass in one period, no burst
    assert max(per_cycle) - min(per_cycle) <= 1


def test_the_pacer_does_not_burst_after_a_long_pause() -> None:
    pacer = SweepPacer()
    pacer.earn(T0, contacts=100, period=3600, cap=1_000)
    assert pacer.earn(T0 + timedelta(days=3), contacts=100, period=3600, cap=1_000) == 100


def test_the_stalest_contacts_are_swept_first_recent_activity_breaking_ties() -> None:
    old, older = T0 - timedelta(hours=1), T0 - timedelta(hours=5)
    contacts = {
        "a": (old, T0 - timedelta(days=9)),
        "b": (older, T0 - timedelta(days=9)),
        "c": (None, T0 - timedelta(days=2)),
        "d": (None, T0 - timedelta(minutes=1)),  # never swept, recently active
        "e": (older, T0 - timedelta(minutes=5)),  # as stale as b, more recently active
    }
    assert sweep_order(contacts, 5) == ["d", "c", "e", "b", "a"]
    assert sweep_order(contacts, 2, skip=["d"]) == ["c", "e"]


def test_simulated_days_sweep_every_contact_within_the_bound() -> None:
    contacts: dict[str, tuple[datetime | None, datetime | None]] = {
        f"c{i:05d}": (T0, T0) for i in range(5_000)
    }
    plan = plan_location(
        PlanInputs(contacts=5_000, tasks=5_000, children_per_contact=2, daily_quota=20_000)
    )
    assert plan.staleness_bound > DAY / 2  # a location that has to spread its sweep
    pacer, now, worst = SweepPacer(), T0, 0.0
    pacer.earn(now, contacts=len(contacts), period=plan.children_sweep_seconds, cap=500)
    for _ in range(3 * 24 * 12):
        now += timedelta(seconds=300)
        take = pacer.earn(now, contacts=len(contacts), period=plan.children_sweep_seconds, cap=500)
        for cid in sweep_order(contacts, take):
            contacts[cid] = (now, contacts[cid][1])
        oldest = min(swept for swept, _ in contacts.values() if swept is not None)
        worst = max(worst, (now - oldest).total_seconds())
    assert worst <= plan.staleness_bound + 300
