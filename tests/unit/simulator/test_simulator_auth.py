"""Version header, bearer tokens, scopes and location isolation."""

from __future__ import annotations

from simulator_harness import CALENDARS_V, Sim, SimFactory

from services.simulator import PrivateIntegrationToken


async def test_missing_version_header_is_a_400(sim: Sim) -> None:
    cid = await sim.contact_id()
    response = await sim.client.get(
        f"/contacts/{cid}", headers={"Authorization": f"Bearer {sim.token}"}
    )
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": "Version header was not found"}


async def test_each_operation_wants_its_own_version(sim: Sim) -> None:
    cid = await sim.contact_id()
    wrong = await sim.client.get(f"/contacts/{cid}", headers=sim.headers(version=CALENDARS_V))
    assert wrong.status_code == 400
    assert wrong.json()["message"] == "Version header is invalid"
    appt = next(iter(sim.rt.state.locations[sim.loc].appointments), "none")
    on_calendar = await sim.client.get(
        f"/calendars/events/appointments/{appt}", headers=sim.headers()
    )
    assert on_calendar.status_code == 400


async def test_unknown_or_missing_token_is_a_401(sim: Sim) -> None:
    cid = await sim.contact_id()
    for headers in ({"Version": "2021-07-28"}, sim.headers(token="not-a-token")):
        response = await sim.client.get(f"/contacts/{cid}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "statusCode": 401,
            "message": "Invalid token: access token is invalid",
            "error": "Unauthorized",
        }


async def test_access_tokens_expire(sim: Sim) -> None:
    cid = await sim.contact_id()
    token = (await sim.mint(expiresIn=60))["access_token"]
    ok = await sim.client.get(f"/contacts/{cid}", headers=sim.headers(token))
    assert ok.status_code == 200
    sim.clock.advance(61)
    expired = await sim.client.get(f"/contacts/{cid}", headers=sim.headers(token))
    assert expired.status_code == 401


async def test_scopes_are_enforced_per_operation(sim: Sim) -> None:
    cid = await sim.contact_id()
    reader = (await sim.mint(scopes=["contacts.readonly"]))["access_token"]
    read = await sim.client.get(f"/contacts/{cid}", headers=sim.headers(reader))
    assert read.status_code == 200
    write = await sim.client.put(f"/contacts/{cid}", headers=sim.headers(reader), json={})
    assert write.status_code == 401
    assert write.json()["message"] == "The token is not authorized for this scope."
    tasks = await sim.client.post(
        f"/locations/{sim.loc}/tasks/search", headers=sim.headers(reader), json={}
    )
    assert tasks.status_code == 401
    appointments = await sim.client.get(
        "/calendars/events/appointments/x", headers=sim.headers(reader, version=CALENDARS_V)
    )
    assert appointments.status_code == 401


async def test_a_token_never_reads_another_location(sim: Sim) -> None:
    other = sim.locations[1]
    other_contact = next(iter(sim.rt.state.locations[other].contacts))
    forbidden = {
        "statusCode": 403,
        "message": "The token does not have access to this location.",
        "error": "Forbidden",
    }
    by_id = await sim.client.get(f"/contacts/{other_contact}", headers=sim.headers())
    assert (by_id.status_code, by_id.json()) == (403, forbidden)
    listed = await sim.client.get("/contacts/", params={"locationId": other}, headers=sim.headers())
    assert listed.status_code == 403
    created = await sim.client.post(
        "/contacts/", json={"locationId": other, "firstName": "X"}, headers=sim.headers()
    )
    assert created.status_code == 403
    assert len(sim.rt.state.locations[other].contacts) == 12
    tasks = await sim.client.post(f"/locations/{other}/tasks/search", headers=sim.headers())
    assert tasks.status_code == 403


async def test_private_integration_tokens_work_like_access_tokens(make_sim: SimFactory) -> None:
    probe = await make_sim()
    loc = probe.loc
    pit = PrivateIntegrationToken(
        token="pit-0f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0",
        location_id=loc,
        scopes=("contacts.readonly",),
    )
    sim = await make_sim(private_integration_tokens=(pit,))
    headers = sim.headers(token="pit-0f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0")
    listed = await sim.client.get("/contacts/", params={"locationId": loc}, headers=headers)
    assert listed.status_code == 200
    assert listed.headers["x-ratelimit-remaining"] == "99"
    denied = await sim.client.post(
        "/contacts/", json={"locationId": loc, "firstName": "Y"}, headers=headers
    )
    assert denied.status_code == 401
