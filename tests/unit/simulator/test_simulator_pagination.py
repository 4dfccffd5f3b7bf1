"""Pagination walks every contact exactly once; search filters, sorts and cursors."""

from __future__ import annotations

from typing import Any

from simulator_harness import Sim, SimFactory


async def _walk_list(sim: Sim, limit: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"locationId": sim.loc, "limit": limit}
    for _ in range(100):
        page = (await sim.client.get("/contacts/", params=params, headers=sim.headers())).json()
        seen += [c["id"] for c in page["contacts"]]
        meta = page["meta"]
        assert meta["total"] == page["count"]
        if meta["nextPageUrl"] is None:
            return seen
        params |= {"startAfter": meta["startAfter"], "startAfterId": meta["startAfterId"]}
    raise AssertionError("the walk did not end")


async def test_list_walk_sees_every_contact_once(make_sim: SimFactory) -> None:
    sim = await make_sim(contacts=47)
    contacts = sim.rt.state.locations[sim.loc].contacts
    # Ties on dateAdded must not lose or repeat anyone.
    first, second = list(contacts)[:2]
    contacts[second] = contacts[second].model_copy(update={"dateAdded": contacts[first].dateAdded})
    for limit in (1, 5, 10, 100):
        seen = await _walk_list(sim, limit)
        assert sorted(seen) == sorted(contacts)
        assert len(seen) == len(set(seen))


async def test_list_limit_is_capped_at_100(sim: Sim) -> None:
    response = await sim.client.get(
        "/contacts/", params={"locationId": sim.loc, "limit": 101}, headers=sim.headers()
    )
    assert response.status_code == 422
    assert response.json()["message"] == ["limit must not be greater than 100"]


async def _search(sim: Sim, **body: Any) -> Any:
    response = await sim.client.post(
        "/contacts/search", json={"locationId": sim.loc, **body}, headers=sim.headers()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_search_after_walk_sees_every_contact_once(make_sim: SimFactory) -> None:
    sim = await make_sim(contacts=33)
    sort = [{"field": "dateUpdated", "direction": "asc"}]
    seen: list[str] = []
    cursor = None
    while True:
        body: dict[str, Any] = {"pageLimit": 7, "sort": sort}
        if cursor is not None:
            body["searchAfter"] = cursor
        page = await _search(sim, **body)
        assert page["total"] == 33
        if not page["contacts"]:
            break
        seen += [c["id"] for c in page["contacts"]]
        cursor = page["contacts"][-1]["searchAfter"]
    assert sorted(seen) == sorted(sim.rt.state.locations[sim.loc].contacts)
    assert len(seen) == len(set(seen))
    updated = [sim.rt.state.locations[sim.loc].contacts[i].dateUpdated for i in seen]
    assert updated == sorted(updated)


async def test_search_pages_and_limits(sim: Sim) -> None:
    one = await _search(sim, pageLimit=5, page=1)
    two = await _search(sim, pageLimit=5, page=2)
    three = await _search(sim, pageLimit=5, page=3)
    ids = [c["id"] for p in (one, two, three) for c in p["contacts"]]
    assert sorted(ids) == sorted(sim.rt.state.locations[sim.loc].contacts)
    too_big = await sim.client.post(
        "/contacts/search", json={"locationId": sim.loc, "pageLimit": 501}, headers=sim.headers()
    )
    assert too_big.status_code == 422
    both = await sim.client.post(
        "/contacts/search",
        json={"locationId": sim.loc, "pageLimit": 5, "page": 2, "searchAfter": [1, "x"]},
        headers=sim.headers(),
    )
    assert both.status_code == 422


async def test_search_filters_by_date_updated_range(sim: Sim) -> None:
    cid = await sim.contact_id()
    sim.clock.advance(3600)
    await sim.client.put(f"/contacts/{cid}", json={"city": "Paris"}, headers=sim.headers())
    since = sim.clock.now.isoformat()
    page = await _search(
        sim,
        pageLimit=100,
        filters=[{"field": "dateUpdated", "operator": "range", "value": {"gte": since}}],
        sort=[{"field": "dateUpdated", "direction": "asc"}],
    )
    assert [c["id"] for c in page["contacts"]] == [cid]
    assert page["total"] == 1


async def test_search_filters_groups_and_tags(sim: Sim) -> None:
    cid = await sim.contact_id()
    await sim.client.post(f"/contacts/{cid}/tags", json={"tags": ["zebra"]}, headers=sim.headers())
    page = await _search(
        sim,
        pageLimit=100,
        filters=[
            {
                "group": "OR",
                "filters": [
                    {"field": "tags", "operator": "eq", "value": "zebra"},
                    {"field": "email", "operator": "eq", "value": "nobody@nowhere"},
                ],
            }
        ],
    )
    assert [c["id"] for c in page["contacts"]] == [cid]
    no_email = await _search(
        sim, pageLimit=100, filters=[{"field": "email", "operator": "not_exists"}]
    )
    assert no_email["total"] == 0
