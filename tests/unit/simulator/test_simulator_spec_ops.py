"""Every operation the simulator serves answers with the shape GHL's spec documents.

One script calls each of the 32 operations of `apps/contacts.json`, the task search of
`apps/locations.json` and the appointment operations of `apps/calendars.json`, plus the token
endpoint, and validates every answer whose status has a schema in the spec.
"""

from __future__ import annotations

from typing import Any

from simulator_harness import CALENDARS_V, Sim
from simulator_spec import check, operations

CONTACTS = "apps/contacts.json"
LOCATIONS = "apps/locations.json"
CALENDARS = "apps/calendars.json"
OAUTH = "apps/oauth.json"
CALENDAR_OPS = {
    ("POST", "/calendars/events/appointments"),
    ("PUT", "/calendars/events/appointments/{eventId}"),
    ("GET", "/calendars/events/appointments/{eventId}"),
    ("GET", "/calendars/events"),
    ("DELETE", "/calendars/events/{eventId}"),
    ("GET", "/calendars/"),
}


class Script:
    """Calls operations and validates their answers, remembering which ran."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.covered: set[tuple[str, str, str]] = set()
        self.validated = 0

    async def call(
        self,
        spec: str,
        method: str,
        template: str,
        *,
        path: dict[str, str] | None = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        url = template.format(**(path or {}))
        response = await self.sim.client.request(
            method, url, headers=headers or self.sim.headers(), **kwargs
        )
        assert response.status_code == expect, (method, url, response.text)
        self.validated += check(spec, method, template, response)
        self.covered.add((spec, method, template))
        return response.json()


async def test_every_operation_answers_its_documented_schema(sim: Sim) -> None:
    s = Script(sim)
    loc = sim.loc
    cid = await sim.contact_id()
    p = {"contactId": cid}

    await s.call(CONTACTS, "GET", "/contacts/{contactId}", path=p)
    listed = await s.call(CONTACTS, "GET", "/contacts/", params={"locationId": loc, "limit": 5})
    assert len(listed["contacts"]) == 5
    await s.call(CONTACTS, "POST", "/contacts/search", json={"locationId": loc, "pageLimit": 3})
    await s.call(
        CONTACTS, "GET", "/contacts/search/duplicate",
        params={"locationId": loc, "email": "nobody@example.com"},
    )  # fmt: skip
    created = await s.call(
        CONTACTS, "POST", "/contacts/", expect=201,
        json={"locationId": loc, "firstName": "Grace", "lastName": "Hopper",
              "email": "grace@navy.example", "phone": "+1 555 010 9999", "tags": ["Admiral"],
              "customFields": [{"key": "membership_level", "field_value": "Gold"}],
              "dateOfBirth": "1906-12-09", "dndSettings": {"SMS": {"status": "active"}}},
    )  # fmt: skip
    new_id = created["contact"]["id"]
    q = {"contactId": new_id}
    await s.call(CONTACTS, "PUT", "/contacts/{contactId}", path=q, json={"city": "Arlington"})
    upserted = await s.call(
        CONTACTS, "POST", "/contacts/upsert",
        json={"locationId": loc, "email": "grace@navy.example", "companyName": "US Navy"},
    )  # fmt: skip
    assert upserted["new"] is False
    assert upserted["contact"]["id"] == new_id
    await s.call(
        CONTACTS, "POST", "/contacts/bulk/business",
        json={"locationId": loc, "ids": [new_id], "businessId": "biz00000000000000001"},
    )  # fmt: skip
    by_business = await s.call(
        CONTACTS, "GET", "/contacts/business/{businessId}",
        path={"businessId": "biz00000000000000001"}, params={"locationId": loc},
    )  # fmt: skip
    assert [c["id"] for c in by_business["contacts"]] == [new_id]

    tags = await s.call(
        CONTACTS, "POST", "/contacts/{contactId}/tags", path=q, expect=201,
        json={"tags": ["vip"]},
    )  # fmt: skip
    assert tags["tags"] == ["admiral", "vip"]
    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}/tags", path=q, json={"tags": ["vip"]})
    await s.call(
        CONTACTS, "POST", "/contacts/bulk/tags/update/{type}", path={"type": "add"}, expect=201,
        json={"contacts": [new_id, cid], "tags": ["bulk"], "locationId": loc},
    )  # fmt: skip

    task = await s.call(
        CONTACTS, "POST", "/contacts/{contactId}/tasks", path=q, expect=201,
        json={"title": "Debug", "dueDate": "2026-04-01T15:00:00Z", "completed": False},
    )  # fmt: skip
    t = {"contactId": new_id, "taskId": task["task"]["id"]}
    await s.call(CONTACTS, "GET", "/contacts/{contactId}/tasks", path=q)
    await s.call(CONTACTS, "GET", "/contacts/{contactId}/tasks/{taskId}", path=t)
    await s.call(
        CONTACTS, "PUT", "/contacts/{contactId}/tasks/{taskId}", path=t, json={"body": "moth"}
    )
    await s.call(
        CONTACTS, "PUT", "/contacts/{contactId}/tasks/{taskId}/completed", path=t,
        json={"completed": True},
    )  # fmt: skip
    found = await s.call(
        LOCATIONS, "POST", "/locations/{locationId}/tasks/search", path={"locationId": loc},
        json={"contactId": [new_id]},
    )  # fmt: skip
    assert [x["id"] for x in found["tasks"]] == [t["taskId"]]

    note = await s.call(
        CONTACTS, "POST", "/contacts/{contactId}/notes", path=q, expect=201,
        json={"body": "Found a moth", "title": "Log"},
    )  # fmt: skip
    n = {"contactId": new_id, "id": note["note"]["id"]}
    await s.call(CONTACTS, "GET", "/contacts/{contactId}/notes", path=q)
    await s.call(CONTACTS, "GET", "/contacts/{contactId}/notes/{id}", path=n)
    await s.call(CONTACTS, "PUT", "/contacts/{contactId}/notes/{id}", path=n, json={"pinned": True})

    await s.call(
        CONTACTS, "POST", "/contacts/{contactId}/followers", path=q, expect=201,
        json={"followers": ["user1", "user2"]},
    )  # fmt: skip
    await s.call(
        CONTACTS, "DELETE", "/contacts/{contactId}/followers", path=q, json={"followers": ["user1"]}
    )
    c = {"contactId": new_id, "campaignId": "camp1"}
    await s.call(CONTACTS, "POST", "/contacts/{contactId}/campaigns/{campaignId}", path=c,
                 expect=201, json={})  # fmt: skip
    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}/campaigns/{campaignId}", path=c)
    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}/campaigns/removeAll", path=q)
    w = {"contactId": new_id, "workflowId": "wf1"}
    await s.call(CONTACTS, "POST", "/contacts/{contactId}/workflow/{workflowId}", path=w, json={})
    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}/workflow/{workflowId}", path=w)

    calendar_id = next(iter(sim.rt.state.locations[loc].calendars))
    cal = sim.headers(version=CALENDARS_V)
    calendars = await s.call(
        CALENDARS, "GET", "/calendars/", headers=cal, params={"locationId": loc}
    )
    assert calendar_id in [x["id"] for x in calendars["calendars"]]
    appt = await s.call(
        CALENDARS, "POST", "/calendars/events/appointments", headers=cal,
        json={"calendarId": calendar_id, "locationId": loc, "contactId": new_id,
              "startTime": "2026-04-02T10:00:00+00:00", "title": "Review"},
    )  # fmt: skip
    e = {"eventId": appt["id"]}
    await s.call(CALENDARS, "PUT", "/calendars/events/appointments/{eventId}", path=e,
                 headers=cal, json={"appointmentStatus": "confirmed"})  # fmt: skip
    await s.call(CALENDARS, "GET", "/calendars/events/appointments/{eventId}", path=e, headers=cal)
    events = await s.call(
        CALENDARS, "GET", "/calendars/events", headers=cal,
        params={"locationId": loc, "calendarId": calendar_id,
                "startTime": "1775000000000", "endTime": "1776000000000"},
    )  # fmt: skip
    assert appt["id"] in [x["id"] for x in events["events"]]
    contact_events = await s.call(CONTACTS, "GET", "/contacts/{contactId}/appointments", path=q)
    assert [x["id"] for x in contact_events["events"]] == [appt["id"]]
    await s.call(CALENDARS, "DELETE", "/calendars/events/{eventId}", path=e, headers=cal,
                 expect=201, json={})  # fmt: skip

    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}/notes/{id}", path=n)
    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}/tasks/{taskId}", path=t)
    await s.call(CONTACTS, "DELETE", "/contacts/{contactId}", path=q)

    pair = await sim.mint()
    await s.call(
        OAUTH, "POST", "/oauth/token", headers={},
        data={"client_id": "ghl-sync-simulator", "client_secret": "simulator-client-secret",
              "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
    )  # fmt: skip

    every = {(CONTACTS, m, p) for m, p, _ in operations(CONTACTS)}
    assert len(every) == 32
    assert every <= s.covered
    assert (LOCATIONS, "POST", "/locations/{locationId}/tasks/search") in s.covered
    assert {(CALENDARS, m, p) for m, p in CALENDAR_OPS} <= s.covered
    assert s.validated >= 30


async def test_error_answers_match_the_common_schemas(sim: Sim) -> None:
    s = Script(sim)
    missing = await s.call(
        CONTACTS, "GET", "/contacts/{contactId}", path={"contactId": "nope"}, expect=400
    )
    assert missing == {"statusCode": 400, "message": "Contact not found for id:nope"}
    await s.call(
        CONTACTS, "GET", "/contacts/{contactId}", path={"contactId": "x"}, expect=401,
        headers={"Authorization": "Bearer wrong", "Version": "2021-07-28"},
    )  # fmt: skip
    invalid = await s.call(
        CONTACTS, "POST", "/contacts/", expect=422,
        json={"locationId": sim.loc, "additionalEmails": ["a@b.c"], "firstName": 3},
    )  # fmt: skip
    assert invalid["message"] == [
        "firstName must be a string",
        "property additionalEmails should not exist",
    ]
    assert s.validated == 3


async def test_spec_files_declare_the_versions_the_simulator_enforces(sim: Sim) -> None:
    for spec, want in ((CONTACTS, "2021-07-28"), (CALENDARS, "2021-04-15")):
        for _, path, op in operations(spec):
            if spec == CALENDARS and "/calendars/events" not in path:
                continue
            versions = [x for x in op.get("parameters", []) if x.get("name") == "Version"]
            assert versions
            assert versions[0]["schema"]["enum"] == [want]
