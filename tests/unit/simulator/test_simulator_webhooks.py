"""Webhooks: GHL's shapes, signatures that verify with the exposed keys, retries, blind spots."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from simulator_harness import CALENDARS_V, Sim, SimFactory
from simulator_spec import SPECS_DIR

from schemas.webhooks import parse_webhook


def _event_schema(event: str) -> dict[str, Any]:
    doc = json.loads((Path(SPECS_DIR) / "webhooks" / f"{event}.json").read_text())
    schema: dict[str, Any] = doc["schema"]
    return schema


async def _drain(sim: Sim) -> list[dict[str, Any]]:
    await sim.rt.webhooks.drain()
    return sim.hooks.bodies()


async def _create_contact(sim: Sim, **fields: Any) -> str:
    response = await sim.client.post(
        "/contacts/", json={"locationId": sim.loc, **fields}, headers=sim.headers()
    )
    assert response.status_code == 201, response.text
    return str(response.json()["contact"]["id"])


async def test_webhooks_are_signed_and_verify_with_the_public_keys(make_sim: SimFactory) -> None:
    sim = await make_sim(webhook_legacy_rsa_signature=True)
    await _create_contact(sim, firstName="Ada", email="ada@example.com")
    await _drain(sim)
    keys = (await sim.client.get("/_admin/webhook-public-key")).json()
    ed_key = serialization.load_pem_public_key(keys["ed25519"].encode())
    rsa_key = serialization.load_pem_public_key(keys["rsa"].encode())
    assert isinstance(ed_key, ed25519.Ed25519PublicKey)
    assert isinstance(rsa_key, rsa.RSAPublicKey)
    [request] = sim.hooks.requests
    assert request.url == "https://receiver.example/hooks"
    assert request.headers["content-type"] == "application/json"
    ed_key.verify(base64.b64decode(request.headers["x-ghl-signature"]), request.content)
    rsa_key.verify(
        base64.b64decode(request.headers["x-wh-signature"]),
        request.content,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


async def test_no_legacy_header_unless_asked(sim: Sim) -> None:
    await _create_contact(sim, firstName="Ada", email="ada@example.com")
    await _drain(sim)
    assert "x-wh-signature" not in sim.hooks.requests[0].headers


async def test_contact_events_are_flat_and_match_ghl_schemas(sim: Sim) -> None:
    cid = await _create_contact(
        sim, firstName="Ada", email="ada@example.com", dateOfBirth="1815-12-10"
    )
    await sim.client.put(f"/contacts/{cid}", json={"city": "London"}, headers=sim.headers())
    await sim.client.post(f"/contacts/{cid}/tags", json={"tags": ["math"]}, headers=sim.headers())
    await sim.client.put(f"/contacts/{cid}", json={"dnd": True}, headers=sim.headers())
    await sim.client.delete(f"/contacts/{cid}", headers=sim.headers())
    bodies = await _drain(sim)
    assert [b["type"] for b in bodies] == [
        "ContactCreate", "ContactUpdate", "ContactTagUpdate", "ContactDndUpdate", "ContactDelete",
    ]  # fmt: skip
    for body in bodies:
        jsonschema.Draft7Validator(_event_schema(body["type"])).validate(body)
        assert body["id"] == cid
        assert body["locationId"] == sim.loc
        assert "dateUpdated" not in body
        assert body["webhookId"]
        assert body["timestamp"].endswith("Z")
        assert not hasattr(parse_webhook(body), "reason")
    assert bodies[0]["dateOfBirth"] == "1815-12-10T00:00:00.000Z"
    assert bodies[2]["tags"] == ["math"]
    assert "dndSettings" in bodies[3]
    assert len({b["webhookId"] for b in bodies}) == 5


async def test_note_events_carry_only_the_allowlist(sim: Sim) -> None:
    cid = await sim.contact_id()
    note = await sim.client.post(
        f"/contacts/{cid}/notes", json={"body": "hi", "title": "T", "userId": "u1"},
        headers=sim.headers(),
    )  # fmt: skip
    nid = note.json()["note"]["id"]
    await sim.client.put(f"/contacts/{cid}/notes/{nid}", json={"body": "ho"}, headers=sim.headers())
    await sim.client.delete(f"/contacts/{cid}/notes/{nid}", headers=sim.headers())
    bodies = await _drain(sim)
    assert [b["type"] for b in bodies] == ["NoteCreate", "NoteUpdate", "NoteDelete"]
    for body in bodies:
        assert set(body) == {
            "type", "locationId", "id", "body", "contactId", "dateAdded", "webhookId", "timestamp",
        }  # fmt: skip
        jsonschema.Draft7Validator(_event_schema(body["type"])).validate(body)


async def test_task_edits_are_silent_except_completion(sim: Sim) -> None:
    cid = await sim.contact_id()
    created = await sim.client.post(
        f"/contacts/{cid}/tasks",
        json={"title": "Call", "dueDate": "2026-04-01T00:00:00Z", "completed": False},
        headers=sim.headers(),
    )
    tid = created.json()["task"]["id"]
    url = f"/contacts/{cid}/tasks/{tid}"
    await sim.client.put(url, json={"title": "Call back"}, headers=sim.headers())
    await sim.client.put(url, json={"dueDate": "2026-05-01T00:00:00Z"}, headers=sim.headers())
    await sim.client.put(f"{url}/completed", json={"completed": True}, headers=sim.headers())
    await sim.client.put(f"{url}/completed", json={"completed": False}, headers=sim.headers())
    await sim.client.delete(url, headers=sim.headers())
    bodies = await _drain(sim)
    assert [b["type"] for b in bodies] == ["TaskCreate", "TaskComplete", "TaskDelete"]
    for body in bodies:
        jsonschema.Draft7Validator(_event_schema(body["type"])).validate(body)
        assert "completed" not in body
    assert bodies[1]["title"] == "Call back"


async def test_task_create_may_lack_contact_id(make_sim: SimFactory) -> None:
    sim = await make_sim(task_create_without_contact_rate=1.0)
    cid = await sim.contact_id()
    await sim.client.post(
        f"/contacts/{cid}/tasks",
        json={"title": "Call", "dueDate": "2026-04-01T00:00:00Z", "completed": False},
        headers=sim.headers(),
    )
    [body] = await _drain(sim)
    assert body["type"] == "TaskCreate"
    assert "contactId" not in body
    assert "body" not in body


async def test_appointment_events_are_nested(sim: Sim) -> None:
    cid = await sim.contact_id()
    calendar = next(iter(sim.rt.state.locations[sim.loc].calendars))
    cal = sim.headers(version=CALENDARS_V)
    created = await sim.client.post(
        "/calendars/events/appointments", headers=cal,
        json={"calendarId": calendar, "locationId": sim.loc, "contactId": cid,
              "startTime": "2026-04-02T10:00:00Z"},
    )  # fmt: skip
    eid = created.json()["id"]
    await sim.client.put(
        f"/calendars/events/appointments/{eid}", headers=cal, json={"appointmentStatus": "showed"}
    )
    await sim.client.delete(f"/calendars/events/{eid}", headers=cal)
    bodies = await _drain(sim)
    assert [b["type"] for b in bodies] == [
        "AppointmentCreate", "AppointmentUpdate", "AppointmentDelete",
    ]  # fmt: skip
    for body in bodies:
        jsonschema.Draft7Validator(_event_schema(body["type"])).validate(body)
        assert body["appointment"]["id"] == eid
    assert bodies[1]["appointment"]["appointmentStatus"] == "showed"


async def test_failed_deliveries_are_retried_until_2xx(sim: Sim) -> None:
    sim.hooks.statuses = [500, 429, 503]
    await _create_contact(sim, firstName="Retry", email="retry@example.com")
    await _drain(sim)
    assert len(sim.hooks.requests) == 4
    assert len({r.content for r in sim.hooks.requests}) == 1
    [record] = sim.rt.webhooks.log
    assert (record.status, record.attempts) == ("delivered", 4)


@pytest.mark.parametrize("retries", [0, 12])
async def test_deliveries_give_up_after_the_last_retry(make_sim: SimFactory, retries: int) -> None:
    sim = await make_sim(webhook_max_retries=retries)
    sim.hooks.statuses = [500] * 20
    await _create_contact(sim, firstName="Never", email="never@example.com")
    await _drain(sim)
    assert len(sim.hooks.requests) == retries + 1
    log = (await sim.client.get("/_admin/webhooks")).json()
    assert log["deliveries"][0]["status"] == "failed"
    assert log["deliveries"][0]["lastStatusCode"] == 500


async def test_signing_key_is_stable_for_a_seed(make_sim: SimFactory) -> None:
    one, two, other = await make_sim(seed=1), await make_sim(seed=1), await make_sim(seed=2)
    keys = [(await s.client.get("/_admin/webhook-public-key")).json()["ed25519"]
            for s in (one, two, other)]  # fmt: skip
    assert keys[0] == keys[1] != keys[2]
