"""Shared data of the GHL client's tests: one call per operation, quick settings, which
operation a request is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.ghl import (
    OPERATIONS,
    GhlClient,
    GhlSettings,
)
from services.ghl.requests import (
    AppointmentCreate,
    AppointmentUpdate,
    ContactCreate,
    ContactSearch,
    ContactUpdate,
    ContactUpsert,
    NoteCreate,
    NoteUpdate,
    TaskCreate,
    TaskSearch,
    TaskUpdate,
)

LOC = "loc00000000000000001"
CID = "cId000000000000000001"
Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[..., GhlClient]

_WHEN = datetime(2026, 4, 1, 15, tzinfo=UTC)

# One call per operation, with the body a successful GHL answer would carry.
CALLS: dict[str, tuple[Callable[[GhlClient], Any], dict[str, Any]]] = {
    "get-contact": (lambda c: c.get_contact(LOC, CID), {"contact": {"id": CID}}),
    "search-contacts-advanced": (
        lambda c: c.search_contacts(LOC, ContactSearch(query="ada")),
        {"contacts": [{"id": CID}], "total": 1},
    ),
    "get-duplicate-contact": (
        lambda c: c.get_duplicate_contact(LOC, email="a@example.com"),
        {"contact": {"id": CID}},
    ),
    "get-contacts": (lambda c: c.list_contacts(LOC), {"contacts": [], "count": 0}),
    "get-contacts-by-businessId": (
        lambda c: c.list_contacts_by_business(LOC, "biz1"),
        {"contacts": [], "count": 0},
    ),
    "create-contact": (
        lambda c: c.create_contact(LOC, ContactCreate(firstName="Ada")),
        {"contact": {"id": CID}},
    ),
    "update-contact": (
        lambda c: c.update_contact(LOC, CID, ContactUpdate(lastName="L")),
        {"succeded": True, "contact": {"id": CID}},
    ),
    "upsert-contact": (
        lambda c: c.upsert_contact(LOC, ContactUpsert(email="a@example.com")),
        {"new": True, "contact": {"id": CID}, "traceId": "t1"},
    ),
    "delete-contact": (lambda c: c.delete_contact(LOC, CID), {"succeded": True}),
    "add-tags": (lambda c: c.add_tags(LOC, CID, ["vip"]), {"tags": ["vip"]}),
    "remove-tags": (lambda c: c.remove_tags(LOC, CID, ["vip"]), {"tags": []}),
    "create-association": (
        lambda c: c.bulk_update_tags(LOC, "add", [CID], ["vip"]),
        {"succeded": True, "errorCount": 0, "responses": []},
    ),
    "add-remove-contact-from-business": (
        lambda c: c.bulk_update_business(LOC, [CID], "biz1"),
        {"success": True, "ids": [CID]},
    ),
    "get-all-tasks": (lambda c: c.list_tasks(LOC, CID), {"tasks": [{"id": "t1"}]}),
    "get-task": (lambda c: c.get_task(LOC, CID, "t1"), {"task": {"id": "t1"}}),
    "create-task": (
        lambda c: c.create_task(LOC, CID, TaskCreate(title="Call", dueDate=_WHEN)),
        {"task": {"id": "t1"}},
    ),
    "update-task": (
        lambda c: c.update_task(LOC, CID, "t1", TaskUpdate(title="Call back")),
        {"task": {"id": "t1"}},
    ),
    "update-task-completed": (
        lambda c: c.complete_task(LOC, CID, "t1"),
        {"task": {"id": "t1", "completed": True}},
    ),
    "delete-task": (lambda c: c.delete_task(LOC, CID, "t1"), {"succeded": True}),
    "task-search": (lambda c: c.search_tasks(LOC, TaskSearch()), {"tasks": [{"id": "t1"}]}),
    "search-locations": (lambda c: c.search_locations(LOC), {"locations": [{"id": LOC}]}),
    "get-all-notes": (lambda c: c.list_notes(LOC, CID), {"notes": [{"id": "n1"}]}),
    "get-note": (lambda c: c.get_note(LOC, CID, "n1"), {"note": {"id": "n1"}}),
    "create-note": (
        lambda c: c.create_note(LOC, CID, NoteCreate(body="hi")),
        {"note": {"id": "n1"}},
    ),
    "update-note": (
        lambda c: c.update_note(LOC, CID, "n1", NoteUpdate(body="hey")),
        {"note": {"id": "n1"}},
    ),
    "delete-note": (lambda c: c.delete_note(LOC, CID, "n1"), {"succeded": True}),
    "get-appointments-for-contact": (
        lambda c: c.list_contact_appointments(LOC, CID),
        {"events": [{"id": "e1"}]},
    ),
    "add-followers-contact": (
        lambda c: c.add_followers(LOC, CID, ["u1"]),
        {"followers": ["u1"], "followersAdded": ["u1"]},
    ),
    "remove-followers-contact": (
        lambda c: c.remove_followers(LOC, CID, ["u1"]),
        {"followers": [], "followersRemoved": ["u1"]},
    ),
    "add-contact-to-campaign": (
        lambda c: c.add_to_campaign(LOC, CID, "camp1"),
        {"succeded": True},
    ),
    "remove-contact-from-campaign": (
        lambda c: c.remove_from_campaign(LOC, CID, "camp1"),
        {"succeded": True},
    ),
    "remove-contact-from-every-campaign": (
        lambda c: c.remove_from_all_campaigns(LOC, CID),
        {"succeded": True},
    ),
    "add-contact-to-workflow": (
        lambda c: c.add_to_workflow(LOC, CID, "wf1"),
        {"succeded": True},
    ),
    "delete-contact-from-workflow": (
        lambda c: c.remove_from_workflow(LOC, CID, "wf1"),
        {"succeded": True},
    ),
    "get-appointment": (lambda c: c.get_appointment(LOC, "e1"), {"event": {"id": "e1"}}),
    "get-calendar-events": (
        lambda c: c.list_calendar_events(LOC, start_time=_WHEN, end_time=_WHEN, calendar_id="cal1"),
        {"events": [{"id": "e1"}]},
    ),
    "create-appointment": (
        lambda c: c.create_appointment(
            LOC, AppointmentCreate(calendarId="cal1", contactId=CID, startTime=_WHEN)
        ),
        {"id": "e1", "calendarId": "cal1"},
    ),
    "edit-appointment": (
        lambda c: c.update_appointment(LOC, "e1", AppointmentUpdate(title="Demo")),
        {"id": "e1"},
    ),
    "delete-event": (lambda c: c.delete_appointment(LOC, "e1"), {"succeeded": True}),
}


def fast_settings(**overrides: Any) -> GhlSettings:
    """Settings with tiny backoffs, built from keywords only (no environment)."""
    values: dict[str, Any] = {
        "base_url": "https://ghl.test",
        "retry_backoff": 0.001,
        "retry_backoff_max": 0.002,
        "default_retry_after": 0.001,
        "client_id": "app-client",
        "client_secret": "app-secret-value",
    }
    values.update(overrides)
    return GhlSettings.model_validate(values)


SPECS = Path(__file__).resolve().parents[3] / "specs" / "ghl" / "openapi"
"""GHL's published specs, vendored in the repository (`specs/ghl/openapi`)."""


def operation_of(request: httpx.Request) -> str | None:
    """Which catalogued operation `request` is: of the templates its method and path match,
    the one with the most literal segments; `None` when none matches."""
    parts = request.url.path.rstrip("/").split("/")
    matches: list[tuple[int, str]] = []
    for op in OPERATIONS.values():
        template = op.path.rstrip("/").split("/")
        if (
            op.method == request.method
            and len(template) == len(parts)
            and all(t.startswith("{") or t == p for t, p in zip(template, parts, strict=True))
        ):
            literals = sum(not t.startswith("{") for t in template)
            matches.append((literals, op.operation_id))
    return max(matches)[1] if matches else None
