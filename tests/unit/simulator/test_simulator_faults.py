"""Each injected fault: latency, 5xx, 429 storms, stalls after applying, the 422 trap, and
dropped, duplicated and reordered webhooks."""

from __future__ import annotations

import asyncio
import time

import pytest
from simulator_harness import Sim, SimFactory


async def _set(sim: Sim, **faults: object) -> None:
    response = await sim.client.post("/_admin/faults", json=faults)
    assert response.status_code == 200, response.text


async def test_latency(sim: Sim) -> None:
    await _set(sim, latency_ms=80)
    cid = await sim.contact_id()
    started = time.monotonic()
    response = await sim.client.get(f"/contacts/{cid}", headers=sim.headers())
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.08


async def test_5xx_happens_before_applying(sim: Sim) -> None:
    await _set(sim, error_rate=1.0)
    before = len(sim.rt.state.locations[sim.loc].contacts)
    response = await sim.client.post(
        "/contacts/", json={"locationId": sim.loc, "firstName": "X"}, headers=sim.headers()
    )
    assert response.status_code in (500, 502, 503, 504)
    assert response.json()["statusCode"] == response.status_code
    assert len(sim.rt.state.locations[sim.loc].contacts) == before
    await sim.client.post("/_admin/faults?reset=true", json={})
    assert (await sim.client.get("/_admin/faults")).json()["error_rate"] == 0


async def test_429_storm(sim: Sim) -> None:
    await _set(sim, rate_limit_storm_rate=1.0)
    cid = await sim.contact_id()
    response = await sim.client.get(f"/contacts/{cid}", headers=sim.headers())
    assert response.status_code == 429
    assert response.json() == {
        "statusCode": 429, "message": "Too Many Requests", "error": "Too Many Requests",
    }  # fmt: skip
    assert "x-ratelimit-remaining" in response.headers


async def test_timeout_after_applying(sim: Sim) -> None:
    await _set(sim, timeout_after_apply_rate=1.0, stall_seconds=0.05)
    response = await sim.client.post(
        "/contacts/", json={"locationId": sim.loc, "firstName": "Stalled", "email": "s@x.io"},
        headers=sim.headers(),
    )  # fmt: skip
    assert response.status_code == 504
    names = [c.firstName for c in sim.rt.state.locations[sim.loc].contacts.values()]
    assert "Stalled" in names


async def test_a_client_timeout_still_leaves_the_change_applied(sim: Sim) -> None:
    await _set(sim, timeout_after_apply_rate=1.0, stall_seconds=5)
    cid = await sim.contact_id()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await sim.client.put(f"/contacts/{cid}", json={"city": "Oslo"}, headers=sim.headers())
    assert sim.rt.state.locations[sim.loc].contacts[cid].city == "Oslo"


async def test_422_yet_created(sim: Sim) -> None:
    await _set(sim, create_422_rate=1.0)
    response = await sim.client.post(
        "/contacts/", json={"locationId": sim.loc, "firstName": "Ghost", "email": "g@x.io"},
        headers=sim.headers(),
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["message"] == ["Unprocessable Entity"]
    duplicate = await sim.client.get(
        "/contacts/search/duplicate", params={"locationId": sim.loc, "email": "g@x.io"},
        headers=sim.headers(),
    )  # fmt: skip
    assert duplicate.json()["contact"]["firstName"] == "Ghost"
    await sim.rt.webhooks.drain()
    assert sim.hooks.types() == ["ContactCreate"]
    cid = duplicate.json()["contact"]["id"]
    task = await sim.client.post(
        f"/contacts/{cid}/tasks", headers=sim.headers(),
        json={"title": "t", "dueDate": "2026-04-01T00:00:00Z", "completed": False},
    )  # fmt: skip
    assert task.status_code == 422
    assert len([t for t in sim.rt.state.locations[sim.loc].tasks.values() if t.contactId == cid])


async def test_dropped_webhooks(sim: Sim) -> None:
    await _set(sim, webhook_drop_rate=1.0)
    cid = await sim.contact_id()
    await sim.client.put(f"/contacts/{cid}", json={"city": "Rome"}, headers=sim.headers())
    await sim.rt.webhooks.drain()
    assert sim.hooks.requests == []
    assert sim.rt.webhooks.log[-1].status == "dropped"


async def test_duplicated_webhooks(sim: Sim) -> None:
    await _set(sim, webhook_duplicate_rate=1.0)
    cid = await sim.contact_id()
    await sim.client.put(f"/contacts/{cid}", json={"city": "Rome"}, headers=sim.headers())
    await sim.rt.webhooks.drain()
    first, second = sim.hooks.bodies()
    assert first == second


async def test_reordered_webhooks(make_sim: SimFactory) -> None:
    sim = await make_sim()
    cid = await sim.contact_id()
    await _set(sim, webhook_reorder_rate=1.0, webhook_reorder_delay_seconds=0.05)
    await sim.client.put(f"/contacts/{cid}", json={"city": "First"}, headers=sim.headers())
    await _set(sim, webhook_reorder_rate=0.0)
    await sim.client.put(f"/contacts/{cid}", json={"city": "Second"}, headers=sim.headers())
    await sim.rt.webhooks.drain()
    assert [b["city"] for b in sim.hooks.bodies()] == ["Second", "First"]


async def test_faults_never_touch_admin_or_oauth(sim: Sim) -> None:
    await _set(sim, error_rate=1.0, rate_limit_storm_rate=1.0)
    assert (await sim.client.get("/_admin/state")).status_code == 200
    pair = await sim.mint()
    refreshed = await sim.client.post("/oauth/token", data={
        "client_id": "ghl-sync-simulator", "client_secret": "simulator-client-secret",
        "grant_type": "refresh_token", "refresh_token": pair["refresh_token"],
    })  # fmt: skip
    assert refreshed.status_code == 200
    invalid = await sim.client.post("/_admin/faults", json={"error_rate": 2})
    assert invalid.status_code == 422
