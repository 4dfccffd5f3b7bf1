"""The catalog against GHL's spec files: no operation goes missing silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import services.ghl
from services.catalog import TRIGGERS, build_catalog
from services.ghl import OPERATIONS, GhlClient, supported_operations
from services.writer import SUPPORTED_OPERATIONS


def _spec_operations(path: Path) -> dict[str, tuple[str, str, str | None, str | None]]:
    """operationId -> (METHOD, path, scope, Version) from one spec file."""
    spec = json.loads(path.read_text())
    found: dict[str, tuple[str, str, str | None, str | None]] = {}
    for route, methods in spec["paths"].items():
        for method, op in methods.items():
            security = op.get("security") or []
            scopes = [s for entry in security for scheme in entry.values() for s in scheme]
            version = next(
                (
                    p["schema"]["enum"][0]
                    for p in op.get("parameters", [])
                    if p.get("in") == "header" and p.get("name") == "Version"
                ),
                None,
            )
            found[op["operationId"]] = (
                method.upper(),
                route,
                scopes[0] if scopes else None,
                version,
            )
    return found


def test_every_contacts_operation_is_catalogued_and_has_a_client_method(specs: Path) -> None:
    spec_ops = _spec_operations(specs / "apps" / "contacts.json")
    assert len(spec_ops) == 32
    methods = supported_operations()
    for op_id, (method, path, scope, _) in spec_ops.items():
        assert op_id in OPERATIONS, f"{op_id} missing from the catalog"
        op = OPERATIONS[op_id]
        assert (op.method, op.path, op.scope) == (method, path, scope), op_id
        assert op_id in methods, f"{op_id} has no GhlClient method"
        assert callable(getattr(GhlClient, methods[op_id]))


def test_catalogued_operations_match_their_spec_files(specs: Path) -> None:
    by_file: dict[str, dict[str, tuple[str, str, str | None, str | None]]] = {}
    for op in OPERATIONS.values():
        spec_ops = by_file.setdefault(op.spec, _spec_operations(specs / op.spec))
        assert op.operation_id in spec_ops, f"{op.operation_id} is not in {op.spec}"
        method, path, scope, version = spec_ops[op.operation_id]
        assert (op.method, op.path, op.scope) == (method, path, scope)
        assert op.version == version, f"{op.operation_id}: Version {version}"


def test_required_non_contact_operations_are_present() -> None:
    for op_id in (
        "task-search",
        "get-appointment",
        "get-calendar-events",
        "create-appointment",
        "edit-appointment",
        "delete-event",
    ):
        assert op_id in supported_operations()


def test_triggers_are_spec_files(specs: Path) -> None:
    for event in TRIGGERS:
        assert (specs / "webhooks" / f"{event}.json").is_file(), event
    families = ("Contact", "Note", "Task", "Appointment")
    on_disk = {p.stem for p in (specs / "webhooks").glob("*.json") if p.stem.startswith(families)}
    assert on_disk == set(TRIGGERS)


def test_catalog_lists_actions_and_triggers_with_support() -> None:
    fake_simulator: tuple[set[tuple[str, str]], str] = (
        {("GET", "/contacts/{}")},
        'EVENTS = ("ContactCreate",)',
    )
    entries = build_catalog(fake_simulator)
    actions = {e.name: e for e in entries if e.kind == "action"}
    triggers = {e.name: e for e in entries if e.kind == "trigger"}
    assert set(actions) == set(OPERATIONS)
    assert set(triggers) == set(TRIGGERS)
    assert all(e.client for e in actions.values())
    assert actions["get-contact"].simulator
    assert not actions["create-contact"].simulator
    assert triggers["ContactCreate"].simulator
    assert not triggers["NoteCreate"].simulator
    assert {e.name for e in entries if e.writer} == set(SUPPORTED_OPERATIONS)
    row: dict[str, Any] = actions["get-contact"].to_json()
    assert row["method"] == "GET"


def test_public_names_are_sorted_and_complete() -> None:
    exported = services.ghl.__all__
    # isort order, as ruff keeps it: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    public = {
        name
        for name in dir(services.ghl)
        if not name.startswith("_") and name not in {"annotations"}
    }
    modules = {"catalog", "requests", "responses", "settings", "tokens", "cli"}
    assert public - modules - set(exported) == set()
    for name in exported:
        assert hasattr(services.ghl, name)
