"""The operations catalog: every GHL action (REST operation) and trigger (webhook event) the
sync touches, and which of our parts support it.

A tool beside the CLI (the layer above the processes), so it imports the client, the simulator
and the writer directly; none of them knows the catalog.

`client` comes from the client's own registry (methods marked with their operationId); for
triggers it is always False, since webhooks are received by `services/webhooks`, not the client.
`simulator` comes from the routes of the simulator's app (for triggers: the event name appears
in the simulator's code); `writer` is True for the write operations a command of
`services/writer` applies (never for triggers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import services.simulator as simulator_package
from services.ghl._client import supported_operations
from services.ghl._operations import OPERATIONS
from services.simulator import SimulatorSettings, create_app
from services.writer import SUPPORTED_OPERATIONS

__all__ = [
    "TRIGGERS",
    "CatalogEntry",
    "build_catalog",
    "simulator_routes",
    "writer_operations",
]

TRIGGERS: dict[str, str | None] = {
    "ContactCreate": "contacts.readonly",
    "ContactUpdate": "contacts.readonly",
    "ContactDelete": "contacts.readonly",
    "ContactDndUpdate": "contacts.readonly",
    "ContactTagUpdate": "contacts.readonly",
    "NoteCreate": "contacts.readonly",
    "NoteUpdate": "contacts.readonly",
    "NoteDelete": "contacts.readonly",
    "TaskCreate": "contacts.readonly",
    "TaskComplete": "contacts.readonly",
    "TaskDelete": "contacts.readonly",
    # GHL's scope table does not list the appointment events (REFERENCE.md, UNCONFIRMED).
    "AppointmentCreate": "calendars/events.readonly",
    "AppointmentUpdate": "calendars/events.readonly",
    "AppointmentDelete": "calendars/events.readonly",
}
"""Webhook events of `openapi/webhooks/` the sync consumes, with the scope they need."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One action or trigger and who supports it."""

    kind: Literal["action", "trigger"]
    name: str
    method: str | None
    path: str | None
    scope: str | None
    spec: str
    client: bool
    simulator: bool
    writer: bool

    def to_json(self) -> dict[str, Any]:
        """A plain dict for `--json`."""
        return asdict(self)


def _shape(path: str) -> str:
    """A path with every `{param}` blanked and no trailing slash, for route matching."""
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/") or "/"


def simulator_routes() -> tuple[set[tuple[str, str]], str] | None:
    """(method, path shape) of every simulator route and its source text; None when the
    simulator's app cannot be built."""
    try:
        app = create_app(SimulatorSettings())
    except Exception:  # any failure to build the simulator means: not supported (yet)
        return None
    routes: set[tuple[str, str]] = set()
    try:
        # The OpenAPI document lists every mounted route, however routers are nested.
        paths: dict[str, dict[str, Any]] = app.openapi().get("paths", {})
    except Exception:  # a simulator whose schema cannot be generated: fall back to routes
        paths = {}
    for path, methods in paths.items():
        routes.update((method.upper(), _shape(path)) for method in methods)
    for route in getattr(app, "routes", ()):
        route_path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if isinstance(route_path, str):
                routes.add((method.upper(), _shape(route_path)))
    folder = Path(simulator_package.__file__ or "").parent
    source = "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*.py")))
    return routes, source


def writer_operations() -> frozenset[str]:
    """OperationIds the writer applies commands with."""
    return frozenset(SUPPORTED_OPERATIONS)


def build_catalog(
    simulator: tuple[Iterable[tuple[str, str]], str] | None = None,
) -> list[CatalogEntry]:
    """Actions then triggers; `simulator` defaults to detecting it (see `simulator_routes`)."""
    detected = simulator if simulator is not None else simulator_routes()
    routes = set(detected[0]) if detected else set()
    source = detected[1] if detected else ""
    client = supported_operations()
    writer = writer_operations()
    entries = [
        CatalogEntry(
            kind="action",
            name=op.operation_id,
            method=op.method,
            path=op.path,
            scope=op.scope,
            spec=op.spec,
            client=op.operation_id in client,
            simulator=(op.method, _shape(op.path)) in routes,
            writer=op.operation_id in writer,
        )
        for op in OPERATIONS.values()
    ]
    entries.extend(
        CatalogEntry(
            kind="trigger",
            name=event,
            method=None,
            path=None,
            scope=scope,
            spec=f"webhooks/{event}.json",
            client=False,
            simulator=f'"{event}"' in source,
            writer=False,
        )
        for event, scope in TRIGGERS.items()
    )
    return entries
