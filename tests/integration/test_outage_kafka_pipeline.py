"""A 10 s broker outage under the poller and the worker (normalize, projections, history),
each a real process (`bench/outage_pipeline.py` holds the machinery: a private broker on a
port outside the ephemeral range, the shared PostgreSQL, fresh topics and schema; the
benchmark runs the same with a 60 s outage).

Both must stay up, answer `/readyz` 503 naming Kafka while it is away, log one line when it
goes and one when it is back (no traceback, none of aiokafka's per-attempt errors), and catch
up afterwards: contacts created in GHL during the outage are polled and projected, a webhook
delivered after it is normalised, and the projection tables equal a reference model of every
event on the topic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.outage_pipeline import PipelineReport, pipeline_broker_outage

pytestmark = pytest.mark.integration

# Two lines per outage per process (gone, back) and a little room (a deferred commit).
# Before the policy the worker said nothing on /readyz and logged aiokafka's errors.
MAX_LINES = 4
OUTAGE_SECONDS = 10


def _explain(report: PipelineReport) -> str:
    return "\n".join(f"{n}: {line}" for n, lines in report.log_lines.items() for line in lines)


async def test_broker_away_the_poller_and_the_worker_stay_up_log_twice_and_catch_up(
    tmp_path: Path,
) -> None:
    report = await pipeline_broker_outage(tmp_path, OUTAGE_SECONDS)
    print(_explain(report))
    assert report.exited == {"poller": False, "worker": False}, _explain(report)
    for name, lines in report.log_lines.items():
        text = "\n".join(lines)
        assert len(lines) <= MAX_LINES, (name, text)
        assert "Traceback" not in text, (name, text)
        assert "kafka unreachable" in text, (name, text)
        assert "kafka is back after" in text, (name, text)
    assert set(report.down_seen) == {"poller", "worker"}, "a /readyz stayed 200"
    for name, body in report.readyz_during.items():
        assert "kafka" in body["failing"], (name, body)
        assert body["reasons"]["kafka"], (name, body)  # why, not only what
    assert set(report.work_after) == {"poller", "normalize", "projections"}, report.work_after
    assert len(report.created) == 3
    assert report.table_differences == [], report.table_differences
