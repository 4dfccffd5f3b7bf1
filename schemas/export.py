"""JSON Schema files for downstream consumers of `ghl.events`, and of APPNAME's commands.

One file per event type at its current version, `<event_type>.v<schema_version>.json`, plus
`index.json` listing them. The schemas describe events as `encode_event` writes them
(pydantic's serialization mode). Output is deterministic: sorted keys, two-space indent,
trailing newline, so the files can be committed and checked for staleness in CI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from schemas.commands import COMMAND_TYPES, CommandResult
from schemas.registry import CURRENT_SCHEMA_VERSIONS, EVENT_TYPES

__all__ = [
    "check_command_schemas",
    "check_json_schemas",
    "export_command_schemas",
    "export_json_schemas",
    "render_command_schemas",
    "render_json_schemas",
]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_INDEX = "index.json"
# Only files of this shape (and the index) belong to the exporter; it never touches others.
_OWNED = re.compile(r"[a-z_]+\.[a-z_]+\.v\d+\.json")


def _render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _is_owned(name: str) -> bool:
    return name == _INDEX or _OWNED.fullmatch(name) is not None


def render_json_schemas() -> dict[str, str]:
    """The exported files as `{file name: text}`, without touching the file system."""
    files: dict[str, str] = {}
    entries = []
    for event_type in sorted(EVENT_TYPES):
        cls = EVENT_TYPES[event_type]
        version = CURRENT_SCHEMA_VERSIONS[event_type]
        name = f"{event_type}.v{version}.json"
        schema = {"$schema": _DIALECT, **cls.model_json_schema(mode="serialization")}
        files[name] = _render(schema)
        entries.append(
            {
                "event_type": event_type,
                "schema_version": version,
                "file": name,
                "title": cls.__name__,
            }
        )
    files[_INDEX] = _render(
        {
            "topic": "ghl.events",
            "discriminator": "event_type",
            "key": "{location_id}:{contact_id}",
            "events": entries,
        }
    )
    return files


def _write(
    directory: Path, expected: Mapping[str, str], owned: Callable[[str], bool]
) -> list[Path]:
    # Files of the exporter's own naming that it no longer produces (an old version, a
    # removed type) are deleted, so the directory then passes `_stale`.
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(directory.glob("*.json")):
        if owned(path.name) and path.name not in expected:
            path.unlink()
    written = []
    for name, text in expected.items():
        path = directory / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def _problems(
    expected: Mapping[str, str],
    present: Mapping[str, str],
    owned: Callable[[str], bool] = _is_owned,
) -> list[str]:
    names = {name for name in expected if present.get(name) != expected[name]}
    names.update(name for name in present if name not in expected and owned(name))
    return sorted(names)


def _stale(directory: Path, expected: Mapping[str, str], owned: Callable[[str], bool]) -> list[str]:
    present = {}
    if directory.is_dir():
        present = {
            path.name: path.read_text(encoding="utf-8")
            for path in directory.glob("*.json")
            if owned(path.name)
        }
    return _problems(expected, present, owned)


def export_json_schemas(directory: Path) -> list[Path]:
    """Write the schema files into `directory` (created if needed); return the paths written.

    Files of the exporter's own naming pattern that no current event type produces (an old
    version, a removed type) are deleted so the directory matches `check_json_schemas`.
    """
    return _write(directory, render_json_schemas(), _is_owned)


def check_json_schemas(directory: Path) -> list[str]:
    """Names of schema files in `directory` that are stale, missing or extra (sorted).

    An empty list means the directory is up to date.
    """
    return _stale(directory, render_json_schemas(), _is_owned)


# -- commands -------------------------------------------------------------------------------

_COMMAND_OWNED = re.compile(r"[a-z_]+\.[a-z_]+\.json|command-result\.json")


def _is_command_owned(name: str) -> bool:
    return name == _INDEX or _COMMAND_OWNED.fullmatch(name) is not None


def render_command_schemas() -> dict[str, str]:
    """The command schema files, `<command_type>.json`, `command-result.json` and `index.json`.

    They describe commands as APPNAME sends them (validation mode: what is accepted).
    """
    files: dict[str, str] = {}
    entries = []
    for command_type in sorted(COMMAND_TYPES):
        cls = COMMAND_TYPES[command_type]
        name = f"{command_type}.json"
        files[name] = _render({"$schema": _DIALECT, **cls.model_json_schema(mode="validation")})
        entries.append({"command_type": command_type, "file": name, "title": cls.__name__})
    files["command-result.json"] = _render(
        {"$schema": _DIALECT, **CommandResult.model_json_schema(mode="serialization")}
    )
    files[_INDEX] = _render(
        {
            "topic": "{app_name}.commands.v1",
            "results_topic": "{app_name}.command-results.v1",
            "discriminator": "command_type",
            "key": "{location_id}:{contact_id} (contact create: {location_id}:new:{command_id})",
            "commands": entries,
            "result": "command-result.json",
        }
    )
    return files


def export_command_schemas(directory: Path) -> list[Path]:
    """Write the command schema files into `directory`; stale ones of its naming are deleted."""
    return _write(directory, render_command_schemas(), _is_command_owned)


def check_command_schemas(directory: Path) -> list[str]:
    """Names of command schema files in `directory` that are stale, missing or extra."""
    return _stale(directory, render_command_schemas(), _is_command_owned)
