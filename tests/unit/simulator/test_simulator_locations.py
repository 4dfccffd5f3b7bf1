"""`GET /locations/search`: a location token sees its own sub-account, with the scope."""

from __future__ import annotations

from simulator_harness import Sim


async def test_a_location_token_lists_its_own_sub_account_only(sim: Sim) -> None:
    token = (await sim.mint(scopes=["locations.readonly"]))["access_token"]
    found = await sim.client.get("/locations/search", headers=sim.headers(token))
    assert found.status_code == 200
    [location] = found.json()["locations"]
    assert location["id"] == sim.loc
    assert location["name"] == sim.rt.state.locations[sim.loc].name
    skipped = await sim.client.get(
        "/locations/search", params={"skip": "1"}, headers=sim.headers(token)
    )
    assert skipped.json() == {"locations": []}
    bad = await sim.client.get(
        "/locations/search", params={"limit": "ten"}, headers=sim.headers(token)
    )
    assert bad.status_code == 422


async def test_without_locations_readonly_it_is_a_401(sim: Sim) -> None:
    token = (await sim.mint(scopes=["contacts.readonly"]))["access_token"]
    refused = await sim.client.get("/locations/search", headers=sim.headers(token))
    assert refused.status_code == 401
    assert refused.json()["message"] == "The token is not authorized for this scope."
