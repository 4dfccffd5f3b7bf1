"""The status tables and JSON, from plain values."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from services.status import (
    BackfillState,
    DeadLetters,
    LocationStatus,
    PartitionLag,
    StatusReport,
    TableCount,
    WebhookReceipts,
    render_json,
    render_tables,
)
from services.status.render import since, span
from tests.factories.status import budget_state, token_state

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _report(commands: dict[str, int] | None) -> StatusReport:
    return StatusReport(
        collected_at=NOW,
        topic_prefix="",
        locations=(
            LocationStatus(
                location_id="loc-one",
                poller=None,
                backfill=BackfillState(
                    phase="tasks",
                    contacts_done=2000,
                    tasks_done=12,
                    started_at=NOW,
                    updated_at=NOW,
                    finished_at=None,
                ),
                token=token_state(NOW, -timedelta(minutes=5), refresh_count=0),
                budget=budget_state(
                    window_left=37,
                    daily_limit=200_000,
                    daily_left=199_000,
                    next_slot_in_seconds=1.5,
                ),
                last_webhook_at=NOW - timedelta(seconds=30),
                contacts_live=2000,
                contacts_deleted=3,
            ),
        ),
        lag=(
            PartitionLag(
                consumer="normalize",
                topic="ghl.raw.v1",
                partition=0,
                end_offset=10,
                committed_offset=None,
                lag=10,
            ),
        ),
        dead_letters=(DeadLetters(topic="ghl.raw.dlq.v1", count=2, exists=True),),
        tables=(TableCount(table="contacts", live=2000, deleted=3),),
        webhooks=WebhookReceipts(persisted=5, claimed=1, last_persisted_at=NOW),
        webhook_scan_per_partition=500,
        commands=commands,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (3660, "1h01m"), (90000, "1d01h")],
)
def test_span_is_short(seconds: float, text: str) -> None:
    assert span(seconds) == text


def test_since_says_ago_ahead_or_dash() -> None:
    assert since(NOW - timedelta(minutes=3), NOW) == "3m ago"
    assert since(NOW + timedelta(minutes=3), NOW) == "in 3m"
    assert since(None, NOW) == "-"


def test_tables_show_every_figure() -> None:
    console = Console(record=True, width=240)
    render_tables(_report({"accepted": 2, "succeeded": 7}), console)
    text = console.export_text()

    for expected in (
        "loc-one",
        "2,000 (+3 deleted)",
        "30s ago",
        "tasks: 2,000 contacts, 12 tasks",
        "expired 5m ago",
        "37/100 per 10s, 199,000/200,000 today, queued 1.5s",
        "normalize",
        "ghl.raw.dlq.v1",
        "commands succeeded",
        "total lag 10",
        "1 in flight",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("commands", "row"), [(None, r"writer table absent"), ({}, r"│ commands\s+│\s+0 │")]
)
def test_tables_say_when_there_are_no_commands(commands: dict[str, int] | None, row: str) -> None:
    console = Console(record=True, width=240)
    render_tables(_report(commands), console)
    assert re.search(row, console.export_text())


def test_json_round_trips() -> None:
    report = _report({"failed": 1})
    assert StatusReport.model_validate_json(render_json(report)) == report
