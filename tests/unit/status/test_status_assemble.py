"""`assemble`: the status figures from plain snapshots of the database and the broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from services.db.settings import DatabaseSettings
from services.ghl.settings import GhlSettings
from services.poller.settings import PollerSettings
from services.status import PollerState, StatusSources, assemble
from services.status._broker import BrokerSnapshot
from services.status._database import DatabaseSnapshot
from streams.settings import StreamsSettings
from tests.factories.status import budget_state, token_state

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
RAW, EVENTS = "p.ghl.raw.v1", "p.ghl.events.v1"


@pytest.fixture
def sources() -> StatusSources:
    return StatusSources(
        streams=StreamsSettings(topic_prefix="p.", app_id="app", projection_consumer="proj"),
        database=DatabaseSettings.model_validate(
            {"url": SecretStr("postgresql://x@h/d"), "GHL_SYNC_DATABASE_SCHEMA": "s"}
        ),
        ghl=GhlSettings.model_validate({"rate_limit_requests": 100, "rate_limit_daily": 1000}),
        poller=PollerSettings(locations=("locC",)),
        webhook_scan_per_partition=10,
    )


def _broker() -> BrokerSnapshot:
    return BrokerSnapshot(
        partitions={RAW: (0, 1), EVENTS: (0, 1), "p.ghl.raw.dlq.v1": (0, 1)},
        beginnings={(RAW, 0): 0, (RAW, 1): 2, (EVENTS, 0): 0, (EVENTS, 1): 0}
        | {("p.ghl.raw.dlq.v1", 0): 1, ("p.ghl.raw.dlq.v1", 1): 0},
        ends={(RAW, 0): 9, (RAW, 1): 7, (EVENTS, 0): 4, (EVENTS, 1): 6}
        | {("p.ghl.raw.dlq.v1", 0): 4, ("p.ghl.raw.dlq.v1", 1): 2},
        group_offsets={"app-normalize": {(RAW, 0): 5}},
        last_seen={"locD": NOW - timedelta(minutes=1)},
    )


def _db() -> DatabaseSnapshot:
    token = token_state(NOW, timedelta(hours=1), refresh_count=2)
    return DatabaseSnapshot(
        now=NOW,
        tokens={"locA": token, "locE": token},
        budgets={"locA": budget_state(window_left=40, daily_limit=1000, daily_left=900)},
        pollers={
            "locB": PollerState(
                contacts_cursor=NOW,
                tasks_swept_at=None,
                children_swept_at=None,
                reconciled_at=None,
                last_poll_at=NOW,
            )
        },
        contacts={"locA": (3, 1)},
        offsets={(EVENTS, 1): 2},
        commands={"succeeded": 4},
    )


def test_every_location_any_source_knows_appears_once_sorted(sources: StatusSources) -> None:
    report = assemble(sources, _db(), _broker())

    assert [loc.location_id for loc in report.locations] == ["locA", "locB", "locC", "locD", "locE"]
    a, b, c, d, e = report.locations
    assert (a.contacts_live, a.contacts_deleted) == (3, 1)
    assert a.budget is not None
    assert a.budget.window_left == 40
    assert b.poller is not None
    assert b.token is None
    assert b.budget is None
    assert c.poller is None
    assert c.token is None
    assert d.last_webhook_at == NOW - timedelta(minutes=1)
    # A token but no ledger row: nothing of the budget was spent yet.
    assert e.budget is not None
    assert (e.budget.window_left, e.budget.daily_left) == (100, 1000)


def test_lag_is_end_minus_position_or_log_start_when_never_committed(
    sources: StatusSources,
) -> None:
    report = assemble(sources, _db(), _broker())

    lag = {(r.consumer, r.topic, r.partition): (r.committed_offset, r.lag) for r in report.lag}
    assert lag == {
        ("normalize", RAW, 0): (5, 4),
        ("normalize", RAW, 1): (None, 5),
        ("proj", EVENTS, 0): (None, 4),
        ("proj", EVENTS, 1): (2, 4),
    }
    assert report.total_lag == 17


def test_dead_letters_count_retained_records_and_name_missing_topics(
    sources: StatusSources,
) -> None:
    report = assemble(sources, _db(), _broker())

    assert [(d.topic, d.count, d.exists) for d in report.dead_letters] == [
        ("p.ghl.raw.dlq.v1", 5, True),
        ("p.ghl.events.dlq.v1", 0, False),
        ("p.appname.commands.dlq.v1", 0, False),
    ]
    assert report.commands == {"succeeded": 4}
    assert report.collected_at == NOW
