"""Ground truth, deterministic seeding, duplicates and upsert, the activity generator."""

from __future__ import annotations

from simulator_harness import Sim, SimFactory

from services.simulator import seed_state


def test_same_seed_same_state() -> None:
    one = seed_state(seed=42, locations=3, contacts_per_location=20).dump()
    two = seed_state(seed=42, locations=3, contacts_per_location=20).dump()
    other = seed_state(seed=43, locations=3, contacts_per_location=20).dump()
    assert one == two
    assert one != other
    locations = one["locations"]
    assert len(locations) == 3
    for loc in locations.values():
        assert len(loc["contacts"]) == 20
        assert loc["tasks"]
        assert loc["notes"]
        assert loc["appointments"]
        emails = [c["email"] for c in loc["contacts"]]
        assert len(set(emails)) == 20
        assert all("@" in e for e in emails)
        assert all(c["phone"].startswith("+1") for c in loc["contacts"])


async def test_ground_truth_dump_follows_every_change(sim: Sim) -> None:
    cid = await sim.contact_id()
    await sim.client.post(f"/contacts/{cid}/tags", json={"tags": ["dumped"]}, headers=sim.headers())
    task = next(t for t in sim.rt.state.locations[sim.loc].tasks.values())
    await sim.client.delete(f"/contacts/{task.contactId}/tasks/{task.id}", headers=sim.headers())
    dump = (await sim.client.get("/_admin/state")).json()["locations"][sim.loc]
    contact = next(c for c in dump["contacts"] if c["id"] == cid)
    assert "dumped" in contact["tags"]
    assert task.id in dump["deleted"]["tasks"]
    assert task.id not in [t["id"] for t in dump["tasks"]]
    assert set(dump) >= {"contacts", "tasks", "notes", "appointments", "deleted"}


async def test_deleting_a_contact_removes_its_children_silently(sim: Sim) -> None:
    loc = sim.rt.state.locations[sim.loc]
    cid = next(t.contactId for t in loc.tasks.values())
    assert cid is not None
    children = [k for k, _ in loc.children(cid)]
    await sim.client.delete(f"/contacts/{cid}", headers=sim.headers())
    await sim.rt.webhooks.drain()
    assert sim.hooks.types() == ["ContactDelete"]
    assert "tasks" in children
    assert not list(loc.children(cid))
    gone = await sim.client.get(f"/contacts/{cid}/tasks", headers=sim.headers())
    assert gone.status_code == 400


async def test_duplicates_are_refused_when_the_location_disallows_them(sim: Sim) -> None:
    existing = sim.rt.state.locations[sim.loc].contacts[await sim.contact_id()]
    response = await sim.client.post(
        "/contacts/", json={"locationId": sim.loc, "email": existing.email}, headers=sim.headers()
    )
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": "This location does not allow duplicated contacts.",
        "meta": {"contactId": existing.id, "matchingField": "email", "contactName": existing.name},
    }
    allowed = await sim.client.put(
        f"/_admin/locations/{sim.loc}/settings", json={"allowDuplicates": True}
    )
    assert allowed.status_code == 200
    again = await sim.client.post(
        "/contacts/", json={"locationId": sim.loc, "email": existing.email}, headers=sim.headers()
    )
    assert again.status_code == 201


async def test_upsert_matches_by_priority_and_skips_a_clashing_phone(sim: Sim) -> None:
    contacts = list(sim.rt.state.locations[sim.loc].contacts.values())
    a, b = contacts[0], contacts[1]
    response = await sim.client.post(
        "/contacts/upsert", headers=sim.headers(),
        json={"locationId": sim.loc, "email": a.email, "phone": b.phone, "city": "Lyon"},
    )  # fmt: skip
    body = response.json()
    assert (body["new"], body["contact"]["id"]) == (False, a.id)
    assert body["contact"]["phone"] == a.phone
    assert body["contact"]["city"] == "Lyon"
    fresh = await sim.client.post(
        "/contacts/upsert", headers=sim.headers(),
        json={"locationId": sim.loc, "email": "brand.new@example.com"},
    )  # fmt: skip
    assert fresh.json()["new"] is True
    neither = await sim.client.post(
        "/contacts/upsert", headers=sim.headers(), json={"locationId": sim.loc, "city": "X"}
    )
    assert neither.status_code == 400


async def test_activity_generator_changes_state_and_sends_webhooks(make_sim: SimFactory) -> None:
    sim = await make_sim()
    before = sim.rt.state.dump()
    response = await sim.client.post("/_admin/activity", json={"steps": 60})
    assert len(response.json()["steps"]) == 60
    await sim.rt.webhooks.drain()
    assert sim.rt.state.dump() != before
    assert sim.hooks.requests
    assert any("no webhook" in step for step in response.json()["steps"])
    twin = await make_sim()
    steps = (await twin.client.post("/_admin/activity", json={"steps": 60})).json()["steps"]
    assert [s.split()[0] for s in steps] == [s.split()[0] for s in response.json()["steps"]]
