"""Validate simulator answers against GHL's published OpenAPI response schemas.

The specs are read from `$GHL_SPECS_DIR` (default: the repository's `specs/ghl/openapi`).
`$ref`s (inside a spec file and into `common/common-schemas.json`) are inlined, and
OpenAPI's `nullable: true` becomes a JSON Schema `null` type, so plain jsonschema validates.

Two spec errata are patched, each asserted to still be present so a fixed spec is noticed:

- `locations.json` `LocationTaskListSuccessfulResponseDto.tasks.items` says `type: array`;
  task search items are task objects.
- `calendars.json` `CalendarEventDTO` types `startTime`, `endTime`, `dateAdded`, `dateUpdated`
  as `object`; they are ISO time strings (as the webhook docs and contact route show).
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema

_DEFAULT = Path(__file__).resolve().parents[3] / "specs" / "ghl" / "openapi"
SPECS_DIR = Path(os.environ.get("GHL_SPECS_DIR", str(_DEFAULT)))
SPEC_FILES = ("apps/contacts.json", "apps/locations.json", "apps/calendars.json", "apps/oauth.json")
METHODS = ("get", "post", "put", "delete", "patch")


@cache
def load(relative: str) -> dict[str, Any]:
    """A spec file, with the known errata patched."""
    path = SPECS_DIR / relative
    assert path.is_file(), f"GHL spec missing: {path} (set GHL_SPECS_DIR)"
    spec: dict[str, Any] = json.loads(path.read_text())
    schemas = spec.get("components", {}).get("schemas", {})
    if relative == "apps/locations.json":
        items = schemas["LocationTaskListSuccessfulResponseDto"]["properties"]["tasks"]["items"]
        assert items == {"type": "array"}, "spec erratum fixed upstream? update the helper"
        items["type"] = "object"
    if relative == "apps/calendars.json":
        props = schemas["CalendarEventDTO"]["properties"]
        for name in ("startTime", "endTime", "dateAdded", "dateUpdated"):
            assert props[name]["type"] == "object", "spec erratum fixed upstream?"
            props[name]["type"] = "string"
    return spec


def _pointer(doc: dict[str, Any], pointer: str) -> Any:
    node: Any = doc
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _inline(node: Any, current: str) -> Any:
    if isinstance(node, list):
        return [_inline(n, current) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        file = current
        if target:
            file = os.path.normpath(os.path.join(os.path.dirname(current), target))
        return _inline(copy.deepcopy(_pointer(load(file), pointer)), file)
    out = {k: _inline(v, current) for k, v in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def operations(relative: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every operation in a spec file."""
    spec = load(relative)
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    ]


def response_schema(relative: str, method: str, path: str, status: int) -> dict[str, Any] | None:
    """The inlined JSON schema of one documented answer, or None when it has no schema.

    Fails when the status is not documented for the operation at all.
    """
    op = load(relative)["paths"][path][method.lower()]
    responses = op["responses"]
    assert str(status) in responses, f"{method} {path} answered undocumented {status}"
    content = responses[str(status)].get("content", {}).get("application/json")
    if not content or not content.get("schema"):
        return None
    schema = _inline(content["schema"], relative)
    return schema


def check(relative: str, method: str, path: str, response: httpx.Response) -> bool:
    """Validate an answer against its documented schema; True if there was one to check."""
    schema = response_schema(relative, method, path, response.status_code)
    if schema is None:
        return False
    jsonschema.Draft7Validator(schema).validate(response.json())
    return True
