"""The simulator at real sizes: bulk actions of 10,000 contacts, the delivery queue, fast seeding,
search pages of 500 over a large location, and the search index lag.

The receiver is an in-process transport that yields to the event loop on every delivery, as a
socket would, so the API and the senders really interleave; assertions are on counts and on
the order of events, never on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
from typing import Any

import httpx
import pytest
from simulator_harness import CONTACTS_V, QUICK_WEBHOOKS, FakeClock, Simulators

from services.simulator import SimulatorSettings, seed_state
from services.simulator.search import _compare, _sort_spec, sort_contacts, sort_key_values
from services.simulator.seed import _Rng
from services.simulator.state import _ID_ALPHABET, random_id

N_BULK = 10_000


class _Receiver(httpx.AsyncBaseTransport):
    """Accepts every webhook; yields once per request, like a real socket."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        self.bodies.append(json.loads(await request.aread()))
        return httpx.Response(200)


class _World:
    def __init__(self, app: Any, client: httpx.AsyncClient, receiver: _Receiver) -> None:
        self.app, self.client, self.receiver = app, client, receiver
        self.rt = app.state.simulator
        self.locations = list(self.rt.state.locations)
        self.tokens: dict[str, str] = {}

    async def headers(self, location: str) -> dict[str, str]:
        if location not in self.tokens:
            minted = await self.client.post("/_admin/tokens", json={"locationId": location})
            self.tokens[location] = minted.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[location]}", **CONTACTS_V}

    async def tag_all_delivered(self, count: int, tag: str) -> None:
        """Add `tag` to the first location's first `count` contacts in bulk, and wait until
        their webhooks are delivered (or dropped)."""
        loc = self.locations[0]
        await self.client.post(
            f"/_admin/locations/{loc}/bulk",
            json={"action": "addTags", "count": count, "tags": [tag]},
        )
        await self.rt.webhooks.drain()


@pytest.fixture
def world_factory(simulators: Simulators) -> Any:
    async def build(
        *, locations: int = 1, contacts: int = 10, clock: FakeClock | None = None, **settings: Any
    ) -> _World:
        options: dict[str, Any] = {
            "seed": 3,
            **QUICK_WEBHOOKS,
            "rate_limit_max": 10**9,
            **settings,
        }
        state = seed_state(seed=3, locations=locations, contacts_per_location=contacts, clock=clock)
        receiver = _Receiver()
        app, client = simulators.open(SimulatorSettings(**options), state, receiver)
        return _World(app, client, receiver)

    return build


async def test_a_bulk_tag_add_on_10000_contacts_delivers_10000_webhooks_while_the_api_answers(
    world_factory: Any,
) -> None:
    world = await world_factory(contacts=N_BULK)
    loc = world.locations[0]
    headers = await world.headers(loc)
    ids = list(world.rt.state.locations[loc].contacts)
    probe = ids[0]

    bulk = asyncio.create_task(
        world.client.post(
            "/contacts/bulk/tags/update/add",
            json={"locationId": loc, "contacts": ids, "tags": ["Bulk-Wave"]},
            headers=headers,
        )
    )
    # Requests made while the bulk action runs and while its webhooks are being delivered.
    # In process, a request never suspends: the sleep stands for the network between requests.
    during_bulk = []
    while not bulk.done():
        await asyncio.sleep(0)
        answer = await world.client.get(f"/contacts/{probe}", headers=headers)
        during_bulk.append(answer.status_code)
    assert bulk.result().status_code == 201, bulk.result().text
    assert bulk.result().json()["errorCount"] == 0

    during_delivery = []
    while world.rt.webhooks.pending:
        await asyncio.sleep(0)
        answer = await world.client.get(f"/contacts/{probe}", headers=headers)
        during_delivery.append((answer.status_code, world.rt.webhooks.pending))
    await world.rt.webhooks.drain()

    assert during_bulk
    assert set(during_bulk) == {200}
    assert len(during_delivery) >= 10
    assert {status for status, _ in during_delivery} == {200}
    assert all(pending > 0 for _, pending in during_delivery[:-1])
    bodies = world.receiver.bodies
    assert len(bodies) == N_BULK
    assert {b["type"] for b in bodies} == {"ContactTagUpdate"}
    assert sorted(b["id"] for b in bodies) == sorted(ids)
    assert all("bulk-wave" in b["tags"] for b in bodies)
    stats = (await world.client.get("/_admin/webhooks", params={"limit": 3})).json()
    assert stats["stats"]["delivered"] == N_BULK
    assert stats["stats"]["queued"] == stats["stats"]["inFlight"] == stats["pending"] == 0
    assert len(stats["deliveries"]) == 3
    assert all(d["status"] == "delivered" and d["deliveredAt"] for d in stats["deliveries"])


async def test_bulk_business_sends_one_contact_update_per_changed_contact(
    world_factory: Any,
) -> None:
    world = await world_factory(contacts=300)
    loc = world.locations[0]
    ids = list(world.rt.state.locations[loc].contacts)
    response = await world.client.post(
        "/contacts/bulk/business",
        json={"locationId": loc, "ids": [*ids, "missing0000000000000"], "businessId": "biz1"},
        headers=await world.headers(loc),
    )
    assert response.status_code == 200
    assert len(response.json()["ids"]) == 300
    await world.rt.webhooks.drain()
    assert sorted(b["id"] for b in world.receiver.bodies) == sorted(ids)
    assert {b["type"] for b in world.receiver.bodies} == {"ContactUpdate"}


async def test_one_locations_bulk_does_not_queue_another_locations_webhook_behind_it(
    world_factory: Any,
) -> None:
    world = await world_factory(locations=2, contacts=3_000, webhook_senders=4)
    busy, quiet = world.locations
    busy_ids = list(world.rt.state.locations[busy].contacts)
    response = await world.client.post(
        "/contacts/bulk/tags/update/add",
        json={"locationId": busy, "contacts": busy_ids, "tags": ["wave"]},
        headers=await world.headers(busy),
    )
    assert response.status_code == 201
    assert world.rt.webhooks.pending > 2_000  # the burst is still queued
    quiet_id = next(iter(world.rt.state.locations[quiet].contacts))
    edit = await world.client.put(
        f"/contacts/{quiet_id}", json={"city": "Elsewhere"}, headers=await world.headers(quiet)
    )
    assert edit.status_code == 200
    delivered_before_edit = len(world.receiver.bodies)
    await world.rt.webhooks.drain()
    order = [b["locationId"] for b in world.receiver.bodies]
    position = order.index(quiet)
    # Round-robin over locations: the quiet location's one webhook goes out within the next
    # few sends, not after the 3,000 queued before it.
    assert position - delivered_before_edit <= 2 * 4
    assert len(order) == 3_001


async def test_a_full_queue_drops_and_logs_instead_of_growing(world_factory: Any) -> None:
    world = await world_factory(contacts=300, webhook_queue_max=50)
    await world.tag_all_delivered(300, "x")
    stats = world.rt.webhooks.stats()
    assert stats["delivered"] + stats["dropped"] == 300
    assert stats["dropped"] > 0
    assert stats["delivered"] == len(world.receiver.bodies) >= 50
    dropped = [r for r in world.rt.webhooks.log if r.status == "dropped"]
    assert len(dropped) == stats["dropped"]
    assert {r.last_error for r in dropped} == {"queue full"}


async def test_pacing_spaces_deliveries_at_the_configured_rate(world_factory: Any) -> None:
    world = await world_factory(contacts=41, webhook_deliveries_per_second=200.0)
    await world.tag_all_delivered(41, "p")
    times = sorted(r.last_sent_at for r in world.rt.webhooks.log if r.last_sent_at)
    assert len(times) == 41
    # 41 sends at 200/s cannot start within less than 40 intervals of 5 ms (a slow machine
    # only adds). Send times, not answer times: the first answer can take longer than the
    # last (a new connection), which would shorten the span of answers.
    assert (times[-1] - times[0]).total_seconds() >= 0.2 - 0.002


async def test_retries_still_happen_through_the_queue(world_factory: Any) -> None:
    world = await world_factory(contacts=5)
    failures = {"left": 3}
    original = world.receiver.handle_async_request

    async def flaky(request: httpx.Request) -> httpx.Response:
        if failures["left"]:
            failures["left"] -= 1
            return httpx.Response(503)
        return await original(request)

    world.receiver.handle_async_request = flaky  # type: ignore[method-assign]
    await world.tag_all_delivered(1, "r")
    [record] = world.rt.webhooks.log
    assert (record.status, record.attempts) == ("delivered", 4)
    assert len(world.receiver.bodies) == 1


async def test_admin_creates_many_contacts_each_with_its_webhook(world_factory: Any) -> None:
    world = await world_factory(contacts=2)
    loc = world.locations[0]
    answer = await world.client.post(
        f"/_admin/locations/{loc}/contacts", json={"count": 1_500, "tags": ["Imported"]}
    )
    assert answer.status_code == 200
    ids = answer.json()["ids"]
    assert answer.json()["created"] == len(set(ids)) == 1_500
    await world.rt.webhooks.drain()
    assert sorted(b["id"] for b in world.receiver.bodies) == sorted(ids)
    assert {b["type"] for b in world.receiver.bodies} == {"ContactCreate"}
    contacts = world.rt.state.locations[loc].contacts
    assert len(contacts) == 1_502
    assert all(contacts[i].tags == ["imported"] for i in ids)
    bad = await world.client.post(f"/_admin/locations/{loc}/contacts", json={"count": 0})
    assert bad.status_code == 422
    unknown = await world.client.post("/_admin/locations/nope/contacts", json={"count": 1})
    assert unknown.status_code == 400


async def test_admin_bulk_changes_only_the_chosen_slice(world_factory: Any) -> None:
    world = await world_factory(contacts=30)
    loc = world.locations[0]
    contacts = world.rt.state.locations[loc].contacts
    ids = list(contacts)
    answer = await world.client.post(
        f"/_admin/locations/{loc}/bulk",
        json={"action": "addTags", "count": 10, "offset": 5, "tags": ["slice"]},
    )
    assert answer.json() == {"contacts": 10, "changed": 10}
    again = await world.client.post(
        f"/_admin/locations/{loc}/bulk",
        json={"action": "addTags", "count": 10, "offset": 5, "tags": ["slice"]},
    )
    assert again.json() == {"contacts": 10, "changed": 0}
    removed = await world.client.post(
        f"/_admin/locations/{loc}/bulk",
        json={"action": "removeTags", "count": 3, "offset": 5, "tags": ["slice"]},
    )
    assert removed.json()["changed"] == 3
    await world.rt.webhooks.drain()
    tagged = {i for i in ids if "slice" in (contacts[i].tags or [])}
    assert tagged == set(ids[8:15])
    assert len(world.receiver.bodies) == 13
    empty = await world.client.post(
        f"/_admin/locations/{loc}/bulk", json={"action": "addTags", "count": 1}
    )
    assert empty.status_code == 422


async def test_search_pages_of_500_walk_a_large_location_once(world_factory: Any) -> None:
    world = await world_factory(contacts=2_600)
    loc = world.locations[0]
    headers = await world.headers(loc)
    sort = [{"field": "dateUpdated", "direction": "asc"}]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        body: dict[str, Any] = {"locationId": loc, "pageLimit": 500, "sort": sort}
        if cursor is not None:
            body["searchAfter"] = cursor
        page = (await world.client.post("/contacts/search", json=body, headers=headers)).json()
        if not page["contacts"]:
            break
        assert len(page["contacts"]) <= 500
        seen += [c["id"] for c in page["contacts"]]
        cursor = page["contacts"][-1]["searchAfter"]
    assert len(seen) == len(set(seen)) == 2_600
    too_big = await world.client.post(
        "/contacts/search", json={"locationId": loc, "pageLimit": 501}, headers=headers
    )
    assert too_big.status_code == 422


async def test_a_search_sees_a_change_made_after_an_identical_search(world_factory: Any) -> None:
    world = await world_factory(contacts=50)
    loc = world.locations[0]
    headers = await world.headers(loc)
    body = {"locationId": loc, "pageLimit": 100, "filters": [
        {"field": "tags", "operator": "eq", "value": "fresh"}]}  # fmt: skip
    assert (await world.client.post("/contacts/search", json=body, headers=headers)).json()[
        "total"
    ] == 0
    cid = next(iter(world.rt.state.locations[loc].contacts))
    await world.client.post(f"/contacts/{cid}/tags", json={"tags": ["fresh"]}, headers=headers)
    found = (await world.client.post("/contacts/search", json=body, headers=headers)).json()
    assert [c["id"] for c in found["contacts"]] == [cid]


async def test_search_index_lag_shows_the_pre_change_state(world_factory: Any) -> None:
    clock = FakeClock()
    world = await world_factory(contacts=20, clock=clock)
    lag = await world.client.put("/_admin/search-lag", json={"seconds": 5})
    assert lag.json() == {"seconds": 5.0}
    assert (await world.client.put("/_admin/search-lag", json={"seconds": -1})).status_code == 422
    loc = world.locations[0]
    headers = await world.headers(loc)
    ids = list(world.rt.state.locations[loc].contacts)

    async def search(**filters: Any) -> list[dict[str, Any]]:
        body = {"locationId": loc, "pageLimit": 100, "filters": [filters] if filters else []}
        answer = await world.client.post("/contacts/search", json=body, headers=headers)
        assert answer.status_code == 200
        return list(answer.json()["contacts"])

    edited, doomed = ids[0], ids[1]
    old_city = world.rt.state.locations[loc].contacts[edited].city
    await world.client.put(f"/contacts/{edited}", json={"city": "Lagville"}, headers=headers)
    created = await world.client.post(
        "/contacts/", json={"locationId": loc, "email": "new@example.com"}, headers=headers
    )
    new_id = created.json()["contact"]["id"]
    await world.client.delete(f"/contacts/{doomed}", headers=headers)

    clock.advance(4.9)
    hits = {c["id"]: c for c in await search()}
    assert hits[edited]["city"] == old_city  # the pre-change version
    assert doomed in hits
    assert new_id not in hits
    assert await search(field="city", operator="eq", value="Lagville") == []
    by_id = await world.client.get(f"/contacts/{edited}", headers=headers)
    assert by_id.json()["contact"]["city"] == "Lagville"  # reads by id do not lag

    await world.client.put(f"/contacts/{edited}", json={"city": "Later"}, headers=headers)
    clock.advance(0.2)  # the first change is 5.1 s old, the second 0.2 s
    hits = {c["id"]: c for c in await search()}
    assert hits[edited]["city"] == "Lagville"
    assert new_id in hits
    assert doomed not in hits
    clock.advance(5)
    hits = {c["id"]: c for c in await search()}
    assert hits[edited]["city"] == "Later"


async def test_no_lag_by_default(world_factory: Any) -> None:
    world = await world_factory(contacts=5)
    assert (await world.client.get("/_admin/search-lag")).json() == {"seconds": 0.0}
    loc = world.locations[0]
    headers = await world.headers(loc)
    cid = next(iter(world.rt.state.locations[loc].contacts))
    await world.client.put(f"/contacts/{cid}", json={"city": "Now"}, headers=headers)
    body = {"locationId": loc, "pageLimit": 10,
            "filters": [{"field": "city", "operator": "eq", "value": "Now"}]}  # fmt: skip
    found = (await world.client.post("/contacts/search", json=body, headers=headers)).json()
    assert [c["id"] for c in found["contacts"]] == [cid]


def test_fast_ids_and_draws_equal_the_standard_library() -> None:
    for seed in range(500):
        plain, fast = random.Random(seed), _Rng(seed)
        ids = random.Random(seed)
        assert [random_id(ids) for _ in range(3)] == [
            "".join(plain.choice(_ID_ALPHABET) for _ in range(20)) for _ in range(3)
        ]
        plain = random.Random(seed)
        for _ in range(20):
            assert fast.randint(0, 999) == plain.randint(0, 999)
            assert fast.choice("abcdefg") == plain.choice("abcdefg")
            k = plain.randint(0, 3)
            assert fast.randint(0, 3) == k
            assert fast.sample(("a", "b", "c", "d", "e", "f", "g", "h"), k) == plain.sample(
                ("a", "b", "c", "d", "e", "f", "g", "h"), k
            )
        assert fast.random() == plain.random()


def test_seeding_is_deterministic_at_size() -> None:
    one = seed_state(seed=9, locations=1, contacts_per_location=3_000)
    two = seed_state(seed=9, locations=1, contacts_per_location=3_000)
    assert one.dump() == two.dump()
    [loc] = one.locations.values()
    assert len(loc.contacts) == 3_000
    assert len({c.email for c in loc.contacts.values()}) == 3_000


def test_the_fast_sort_is_the_comparison_order() -> None:
    rng = random.Random(4)
    for _ in range(200):
        contacts = [
            {
                "id": f"{n:04d}",
                "city": rng.choice([None, "a", "B", "c"]),
                "score": rng.choice([None, 1, 2]),
                "dateAdded": rng.choice(["2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z"]),
            }
            for n in rng.sample(range(1000), 30)
        ]
        sort = rng.choice(
            [
                [],
                [{"field": "city", "direction": "desc"}],
                [{"field": "score"}, {"field": "city", "direction": "desc"}],
                [
                    {"field": "dateAdded", "direction": "asc"},
                    {"field": "score", "direction": "desc"},
                ],
            ]
        )
        desc = [reverse for _, reverse in _sort_spec(sort)] + [False]

        def reference(
            a: dict[str, Any], b: dict[str, Any], sort: Any = sort, desc: Any = desc
        ) -> int:
            return _compare(sort_key_values(a, sort), sort_key_values(b, sort), desc)

        expected = sorted(contacts, key=functools.cmp_to_key(reference))
        assert [c["id"] for c in sort_contacts(contacts, sort)] == [c["id"] for c in expected]


async def test_the_lag_setting_reaches_the_index(world_factory: Any) -> None:
    world = await world_factory(contacts=1, search_lag_seconds=2.5)
    assert (await world.client.get("/_admin/search-lag")).json() == {"seconds": 2.5}
