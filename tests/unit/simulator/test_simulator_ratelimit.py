"""Rate limits: headers on every answer, 429 exactly at the limit, per location."""

from __future__ import annotations

from simulator_harness import Sim, SimFactory

HEADERS = (
    "x-ratelimit-limit-daily",
    "x-ratelimit-daily-remaining",
    "x-ratelimit-interval-milliseconds",
    "x-ratelimit-max",
    "x-ratelimit-remaining",
)


async def test_headers_on_success_and_error_answers(sim: Sim) -> None:
    cid = await sim.contact_id()
    ok = await sim.client.get(f"/contacts/{cid}", headers=sim.headers())
    missing = await sim.client.get("/contacts/nope", headers=sim.headers())
    for response in (ok, missing):
        assert all(h in response.headers for h in HEADERS)
    assert ok.headers["x-ratelimit-max"] == "100"
    assert ok.headers["x-ratelimit-interval-milliseconds"] == "10000"
    assert ok.headers["x-ratelimit-limit-daily"] == "200000"
    assert ok.headers["x-ratelimit-remaining"] == "99"
    assert missing.headers["x-ratelimit-remaining"] == "98"
    assert missing.headers["x-ratelimit-daily-remaining"] == "199998"


async def test_the_101st_request_in_the_window_is_a_429(sim: Sim) -> None:
    cid = await sim.contact_id()
    for n in range(100):
        response = await sim.client.get(f"/contacts/{cid}", headers=sim.headers())
        assert response.status_code == 200
        assert response.headers["x-ratelimit-remaining"] == str(99 - n)
        sim.clock.advance(0.05)
    refused = await sim.client.get(f"/contacts/{cid}", headers=sim.headers())
    assert refused.status_code == 429
    assert refused.json()["statusCode"] == 429
    assert refused.json()["message"] == "Too Many Requests"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    # Rolling window: the first request leaves it 10 s after it was made.
    sim.clock.advance(10 - 100 * 0.05 + 0.01)
    assert (await sim.client.get(f"/contacts/{cid}", headers=sim.headers())).status_code == 200
    assert (await sim.client.get(f"/contacts/{cid}", headers=sim.headers())).status_code == 429
    sim.clock.advance(0.05)
    assert (await sim.client.get(f"/contacts/{cid}", headers=sim.headers())).status_code == 200


async def test_budgets_are_per_location(make_sim: SimFactory) -> None:
    sim = await make_sim(rate_limit_max=3)
    other = (await sim.mint(sim.locations[1]))["access_token"]
    for _ in range(3):
        await sim.client.get("/contacts/", params={"locationId": sim.loc}, headers=sim.headers())
    blocked = await sim.client.get(
        "/contacts/", params={"locationId": sim.loc}, headers=sim.headers()
    )
    assert blocked.status_code == 429
    free = await sim.client.get(
        "/contacts/", params={"locationId": sim.locations[1]}, headers=sim.headers(other)
    )
    assert free.status_code == 200


async def test_daily_quota_and_small_windows(make_sim: SimFactory) -> None:
    sim = await make_sim(rate_limit_max=5, rate_limit_interval_ms=100, rate_limit_daily=7)
    statuses = []
    for n in range(9):
        response = await sim.client.get(
            "/contacts/", params={"locationId": sim.loc}, headers=sim.headers()
        )
        statuses.append(response.status_code)
        if n == 5:
            sim.clock.advance(0.2)
    assert statuses == [200] * 5 + [429] + [200, 200] + [429]
    assert response.headers["x-ratelimit-daily-remaining"] == "0"
    sim.clock.advance(86400)
    fresh = (await sim.mint())["access_token"]
    again = await sim.client.get(
        "/contacts/", params={"locationId": sim.loc}, headers=sim.headers(fresh)
    )
    assert again.status_code == 200
