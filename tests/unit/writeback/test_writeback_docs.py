"""The committed OpenAPI document and command schemas are current; regenerate with
`ghl-sync api-docs` (or `python -c "from services.api.openapi import write_docs; write_docs()"`)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import COMMAND_TYPES, render_command_schemas
from services.api.openapi import check_docs, render_openapi

ROOT = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def test_committed_api_docs_are_up_to_date() -> None:
    assert check_docs(ROOT) == [], "stale: run `ghl-sync api-docs`"


def test_openapi_lists_the_routes_and_the_command_union() -> None:
    document = json.loads(render_openapi())
    assert set(document["paths"]) == {
        "/v1/commands", "/v1/commands/batch", "/v1/commands/{command_id}",
        "/v1/contacts", "/v1/contacts/{contact_id}", "/v1/contacts/{contact_id}/history",
    }  # fmt: skip
    mapping = document["components"]["schemas"]["Command"]["discriminator"]["mapping"]
    assert set(mapping) == set(COMMAND_TYPES)
    assert document["security"] == [{"ApiKey": []}]


def test_one_schema_file_per_command_type() -> None:
    files = render_command_schemas()
    assert set(files) == {f"{t}.json" for t in COMMAND_TYPES} | {
        "index.json",
        "command-result.json",
    }
