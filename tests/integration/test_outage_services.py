"""Outages of the broker and of PostgreSQL under load, with the receiver, the API and the
writer running as real processes (`bench/outage.py` holds the machinery; the benchmark runs
the same with 60 s and 30 s outages).

The broker and the database that go away are private ones (ports outside the ephemeral
range, folders of their own): the shared stack keeps serving everyone else.

Each service must stay up, say on `/readyz` that the dependency is away, log one line when it
goes and one when it is back (no traceback), refuse honestly meanwhile (429 / 503 with
`Retry-After`), never report a command as accepted that Kafka did not confirm, and catch up
afterwards: webhooks persisted again, commands accepted again and applied by the writer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.outage import Report, broker_outage, postgres_outage

pytestmark = pytest.mark.integration

# Two lines per outage per service (gone, back) and a little room, e.g. the API's line saying
# it produced the commands Kafka had not confirmed. Before this policy the receiver logged a
# line per refused delivery, the writer a traceback per reconnect.
MAX_LINES = 6


def _explain(report: Report) -> str:
    return "\n".join(f"{n}: {line}" for n, lines in report.log_lines.items() for line in lines)


def _calm(report: Report) -> None:
    assert report.exited == {"webhooks": False, "api": False, "writer": False}
    for name, lines in report.log_lines.items():
        assert len(lines) <= MAX_LINES, _explain(report)
        assert not any("Traceback" in line for line in lines), _explain(report)
        name_of = report.dependency
        assert any(f"{name_of} unreachable" in line for line in lines), (name, _explain(report))
        assert any(f"{name_of} is back after" in line for line in lines), (name, _explain(report))
    assert set(report.down_seen) == {"webhooks", "api", "writer"}, "a /readyz stayed 200"
    for name, body in report.readyz_during.items():
        assert report.dependency in body["failing"], (name, body)
        assert body["reasons"][report.dependency], (name, body)  # why, not only what
    assert set(report.work_after) == {"webhooks", "api", "writer"}, report.work_after
    # Nothing is left open: every command sent reached a terminal state or was refused
    # before it was recorded (404: the API refused it at once, knowing the dependency away).
    assert set(report.final_states.values()) <= {"succeeded", "404"}, report.final_states
    assert "succeeded" in report.final_states.values()


async def test_broker_away_every_service_stays_up_logs_twice_and_catches_up(
    tmp_path: Path,
) -> None:
    report = await broker_outage(tmp_path, 10)
    _calm(report)
    assert report.statuses_during["webhooks"] <= {429}, report.statuses_during
    assert report.statuses_during["commands"] <= {503}, report.statuses_during
    assert report.statuses_during["reads"] == {200}, "reads need only PostgreSQL"
    routes = report.routes_during
    assert routes["POST /v1/commands"][0] == 503
    assert routes["POST /v1/commands"][1] is not None
    assert routes["POST /v1/commands/batch"][0] == 503
    assert routes["GET /readyz"][0] == 503
    assert routes["GET /v1/commands/{id}"][0] == 200
    # A command Kafka did not confirm is never reported as on the topic.
    assert report.refused_states, "no command was refused during the outage"
    assert set(report.refused_states.values()) <= {"pending", "404"}, report.refused_states
    # Some were recorded before the API knew Kafka was away (their produce timed out): those
    # were produced again after the recovery and applied (`final_states` above).
    assert "pending" in report.refused_states.values(), report.refused_states


async def test_postgres_away_no_process_exits_the_api_answers_503_and_reads_resume(
    tmp_path: Path,
) -> None:
    report = await postgres_outage(tmp_path, 10)
    _calm(report)
    # The receiver persists without its replay check: GHL's deliveries are not refused.
    assert report.statuses_during["webhooks"] == {200}, report.statuses_during
    assert report.statuses_during["commands"] <= {503}, report.statuses_during
    assert report.statuses_during["reads"] <= {503}, report.statuses_during
    assert len(report.routes_during) == 7
    for route, (status, retry_after) in report.routes_during.items():
        assert status == 503, (route, status)
        assert retry_after is not None, route
        assert int(retry_after) >= 1
