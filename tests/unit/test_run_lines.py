"""The merged log stream of `ghl-sync run`: text lines named by their service, or JSON lines
with a `service` field whatever the child printed."""

from __future__ import annotations

import json

from services.run.cli import log_line


def test_text_lines_are_prefixed_by_the_padded_service_name() -> None:
    assert log_line("api", "Started", json_lines=False, width=10) == "api        | Started"
    assert log_line("api", "", json_lines=False, width=3) == "api | "


def test_a_json_record_is_kept_whole_with_its_service() -> None:
    record = {"time": "2026-12-01T00:00:00.000+00:00", "level": "WARNING", "logger": "x",
              "message": "lost Kafka", "exc": "Traceback..."}  # fmt: skip
    out = json.loads(log_line("poller", json.dumps(record), json_lines=True, width=6))
    assert out == {"service": "poller", **record}


def test_anything_else_becomes_a_json_message() -> None:
    for line in ("error: bad setting GHL_SYNC_X", "{not json", '["a list"]', '  File "x.py"'):
        out = json.loads(log_line("writer", line, json_lines=True, width=6))
        assert out["service"] == "writer"
        assert out["message"] == line
        assert {"time", "level", "logger"} <= set(out)
    notice = json.loads(log_line("supervisor", "writer restarted", json_lines=True, width=10))
    assert notice["logger"] == "services.run"
