"""The committed OpenAPI document (`docs/schemas/api/openapi.json`) and the command schemas."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr

from schemas import check_command_schemas, export_command_schemas
from services.api.app import create_app
from services.api.settings import ApiSettings

__all__ = ["DOCS", "check_docs", "render_openapi", "write_docs"]

DOCS = Path("docs/schemas")
"""Where `write_docs` writes by default: `api/openapi.json` and `commands/`."""


def render_openapi() -> str:
    """The OpenAPI document as committed: sorted keys, two-space indent, trailing newline."""
    app = create_app(ApiSettings.model_construct(api_keys=[SecretStr("unused")]))
    return json.dumps(app.openapi(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_docs(root: Path = DOCS) -> list[Path]:
    """Write the OpenAPI document and the command schemas under `root`."""
    target = root / "api" / "openapi.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_openapi(), encoding="utf-8", newline="\n")
    return [target, *export_command_schemas(root / "commands")]


def check_docs(root: Path = DOCS) -> list[str]:
    """Stale, missing or extra files under `root` (empty: up to date)."""
    stale = [f"commands/{name}" for name in check_command_schemas(root / "commands")]
    target = root / "api" / "openapi.json"
    if not target.is_file() or target.read_text(encoding="utf-8") != render_openapi():
        stale.insert(0, "api/openapi.json")
    return stale
