"""JSON Schema export: the committed files in docs/schemas/events are up to date."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import CURRENT_SCHEMA_VERSIONS, check_json_schemas, render_json_schemas
from schemas.export import _problems

DOCS = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "events"


def test_committed_schemas_are_up_to_date() -> None:
    problems = check_json_schemas(DOCS)
    assert problems == [], (
        f"stale, missing or extra schema files {problems}; "
        "run `ghl-sync schemas export docs/schemas/events` and commit the result"
    )


def test_one_file_per_event_type_at_its_current_version_plus_index() -> None:
    files = render_json_schemas()
    expected = {f"{t}.v{v}.json" for t, v in CURRENT_SCHEMA_VERSIONS.items()} | {"index.json"}
    assert set(files) == expected
    index = json.loads(files["index.json"])
    assert [entry["file"] for entry in index["events"]] == sorted(expected - {"index.json"})


def test_rendering_is_deterministic_and_canonical() -> None:
    first, second = render_json_schemas(), render_json_schemas()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n")
        assert (
            text
            == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        )


def test_schema_describes_the_encoded_event() -> None:
    schema = json.loads(render_json_schemas()["appointment.upserted.v2.json"])
    assert schema["properties"]["event_type"]["const"] == "appointment.upserted"
    assert schema["properties"]["schema_version"]["const"] == 2
    assert "payload" in schema["required"]
    assert schema["additionalProperties"] is False


def test_problems_name_stale_missing_and_extra_files() -> None:
    expected = {"a.upserted.v1.json": "{}\n", "b.deleted.v1.json": "{}\n", "index.json": "[]\n"}
    present = {
        "a.upserted.v1.json": "{}\n",
        "b.deleted.v1.json": '{"old": true}\n',
        "a.upserted.v0.json": "{}\n",
        "notes.json": "{}\n",
    }
    assert _problems(expected, present) == ["a.upserted.v0.json", "b.deleted.v1.json", "index.json"]
    assert _problems(expected, expected) == []
