"""Agency installs: Company grants for a company, selected locations, all and future locations;
`POST /oauth/locationToken`; `GET /oauth/installedLocations`; Company refresh (single use);
INSTALL / UNINSTALL / LocationCreate webhooks, signed like the others; the company's budget."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from simulator_harness import Sim, SimFactory
from simulator_spec import SPECS_DIR, check

CLIENT = {"client_id": "ghl-sync-simulator", "client_secret": "simulator-client-secret"}
CONSENT = {
    "response_type": "code",
    "client_id": "ghl-sync-simulator",
    "redirect_uri": "http://localhost:8765/callback",
}
COMPANY = "SimCompany0000000001"
APP = "ghl"
OAUTH = "apps/oauth.json"
V = {"Version": "2021-07-28"}


def _schema(event: str) -> dict[str, Any]:
    import json
    from pathlib import Path

    doc = json.loads((Path(SPECS_DIR) / "webhooks" / f"{event}.json").read_text())
    schema: dict[str, Any] = doc["schema"]
    return schema


async def _consent(sim: Sim, **params: str) -> str:
    response = await sim.client.get(
        "/v2/oauth/chooselocation", params={**CONSENT, "approve": "true", **params}
    )
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


async def _exchange(sim: Sim, code: str) -> Any:
    response = await sim.client.post(
        "/oauth/token",
        data={**CLIENT, "grant_type": "authorization_code", "code": code,
              "redirect_uri": CONSENT["redirect_uri"]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert check(OAUTH, "POST", "/oauth/token", response)
    return response.json()


async def _company_consent(sim: Sim, **params: str) -> Any:
    """The token answer for the company's consent with `params` (which locations)."""
    return await _exchange(sim, await _consent(sim, companyId=COMPANY, **params))


async def _app_events(sim: Sim) -> list[dict[str, Any]]:
    await sim.rt.webhooks.drain()
    return [
        b for b in sim.hooks.bodies() if b["type"] in ("INSTALL", "UNINSTALL", "LocationCreate")
    ]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **V}


async def _installed(sim: Sim, token: str, **params: str) -> Any:
    response = await sim.client.get(
        "/oauth/installedLocations",
        params={"companyId": COMPANY, "appId": APP, **params},
        headers=_bearer(token),
    )
    return response


async def test_bulk_consent_on_selected_locations_answers_a_company_token(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(locations=4, contacts=2)
    chosen = sim.locations[1:3]
    code = await _consent(sim, companyId=COMPANY, locationIds=",".join(chosen))
    # INSTALL went out at consent, before the exchange (ISSUES #294).
    events = await _app_events(sim)
    assert [e.get("locationId") for e in events] == [None, *chosen]
    answer = await _exchange(sim, code)
    assert answer["userType"] == "Company"
    assert answer["companyId"] == COMPANY
    assert "locationId" not in answer
    assert answer["isBulkInstallation"] is True
    assert answer["approvedLocations"] == chosen
    assert answer["installToFutureLocations"] is False
    assert answer["approveAllLocations"] is False
    assert {"oauth.readonly", "oauth.write"} <= set(answer["scope"].split())
    agency, *per_location = events
    assert agency["companyId"] == COMPANY
    assert agency["installType"] == "Company"
    for event in events:
        assert event["type"] == "INSTALL"
        assert event["appId"] == APP
        assert event["webhookId"]
        jsonschema.Draft7Validator(_schema("AppInstall")).validate(event)
    assert all(e["companyId"] == COMPANY and e["userId"] for e in per_location)


async def test_consent_for_all_and_for_the_company_alone(make_sim: SimFactory) -> None:
    sim = await make_sim(locations=3, contacts=1)
    every = await _company_consent(sim, approveAllLocations="true", installToFutureLocations="true")
    assert every["approvedLocations"] == sim.locations
    assert every["approveAllLocations"] is True
    assert every["installToFutureLocations"] is True

    other = await make_sim(locations=2, contacts=1)
    alone = await _company_consent(other)
    assert alone["userType"] == "Company"
    assert alone["isBulkInstallation"] is False
    assert alone["approvedLocations"] == []
    events = await _app_events(other)
    assert len(events) == 1
    assert "locationId" not in events[0]


async def test_location_consent_is_unchanged_and_sends_a_location_install(sim: Sim) -> None:
    answer = await _exchange(sim, await _consent(sim, locationId=sim.locations[1]))
    assert answer["userType"] == "Location"
    assert answer["locationId"] == sim.locations[1]
    assert answer["companyId"] == COMPANY
    assert answer["isBulkInstallation"] is False
    [event] = await _app_events(sim)
    assert event["locationId"] == sim.locations[1]
    assert event["companyId"] == COMPANY


async def test_a_consent_naming_a_foreign_location_or_company_is_refused(sim: Sim) -> None:
    foreign = await sim.client.get(
        "/v2/oauth/chooselocation",
        params={**CONSENT, "approve": "true", "companyId": COMPANY, "locationIds": "nope"},
    )
    assert foreign.status_code == 400
    unknown = await sim.client.get(
        "/v2/oauth/chooselocation", params={**CONSENT, "approve": "true", "companyId": "x"}
    )
    assert unknown.status_code == 400
    page = await sim.client.get("/v2/oauth/chooselocation", params=CONSENT)
    assert "installToFutureLocations" in page.text
    assert "approveAllLocations" in page.text
    assert await _app_events(sim) == []


async def test_location_tokens_minted_from_the_company_token(make_sim: SimFactory) -> None:
    sim = await make_sim(locations=3, contacts=3)
    chosen = sim.locations[:2]
    company = await _company_consent(sim, locationIds=",".join(chosen))
    form = {"companyId": COMPANY, "locationId": chosen[0]}
    minted = await sim.client.post(
        "/oauth/locationToken", data=form, headers=_bearer(company["access_token"])
    )
    assert minted.status_code == 200, minted.text
    assert check(OAUTH, "POST", "/oauth/locationToken", minted)
    body = minted.json()
    assert body["locationId"] == chosen[0]
    assert body["userType"] == "Location"
    assert body["refresh_token"]
    assert "oauth.write" not in body["scope"].split()
    # The minted token reads the location; its refresh token rotates on its own.
    read = await sim.client.get(
        "/contacts/", params={"locationId": chosen[0]}, headers=_bearer(body["access_token"])
    )
    assert read.status_code == 200
    refreshed = await sim.client.post(
        "/oauth/token",
        data={**CLIENT, "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
              "user_type": "Location"},
    )  # fmt: skip
    assert refreshed.status_code == 200
    assert refreshed.json()["locationId"] == chosen[0]
    # Not installed there, another company, a location token, a missing field, no Version.
    cases = [
        ({"companyId": COMPANY, "locationId": sim.locations[2]}, company["access_token"], V, 400),
        ({"companyId": "other", "locationId": chosen[0]}, company["access_token"], V, 403),
        (form, body["access_token"], V, 401),
        ({"companyId": COMPANY}, company["access_token"], V, 422),
        (form, company["access_token"], {}, 400),
    ]
    for data, token, version, status in cases:
        headers = {"Authorization": f"Bearer {token}", **version}
        answer = await sim.client.post("/oauth/locationToken", data=data, headers=headers)
        assert answer.status_code == status, (data, answer.text)
    # A Company token does not read location data.
    denied = await sim.client.get(
        "/contacts/", params={"locationId": chosen[0]}, headers=_bearer(company["access_token"])
    )
    assert denied.status_code == 401


async def test_installed_locations_pages_and_filters(make_sim: SimFactory) -> None:
    sim = await make_sim(locations=45, contacts=0)
    chosen = sim.locations[::2]
    company = await _company_consent(sim, locationIds=",".join(chosen))
    token = company["access_token"]
    seen: list[str] = []
    skip = 0
    while True:
        page = await _installed(sim, token, skip=str(skip), limit="20", isInstalled="true")
        assert page.status_code == 200, page.text
        assert check(OAUTH, "GET", "/oauth/installedLocations", page)
        rows = page.json()["locations"]
        assert page.json()["count"] == 45
        assert all(r["isInstalled"] and r["installedAt"] for r in rows)
        seen += [r["_id"] for r in rows]
        if len(rows) < 20:
            break
        skip += len(rows)
    assert seen == chosen
    everything = (await _installed(sim, token, limit="100")).json()["locations"]
    assert [r["_id"] for r in everything] == sim.locations
    assert not (await _installed(sim, token, isInstalled="false", limit="100")).json()["locations"][
        0
    ]["isInstalled"]
    one = (await _installed(sim, token, locationId=chosen[1])).json()["locations"]
    assert [r["_id"] for r in one] == [chosen[1]]
    assert (await _installed(sim, token, appId="wrong")).status_code == 400
    assert (await _installed(sim, token, companyId="other")).status_code == 403
    assert (await _installed(sim, token, limit="lots")).status_code == 422
    assert (await _installed(sim, sim.token)).status_code == 401  # a location token


async def test_company_refresh_needs_its_user_type_and_is_single_use(sim: Sim) -> None:
    company = await _company_consent(sim, approveAllLocations="true")

    async def refresh(token: str, user_type: str | None) -> Any:
        form = {**CLIENT, "grant_type": "refresh_token", "refresh_token": token}
        if user_type:
            form["user_type"] = user_type
        return await sim.client.post("/oauth/token", data=form)

    assert (await refresh(company["refresh_token"], "Location")).status_code == 400
    assert (await refresh(company["refresh_token"], None)).status_code == 400
    first = await refresh(company["refresh_token"], "Company")
    assert first.status_code == 200
    assert first.json()["userType"] == "Company"
    assert first.json()["approvedLocations"] == sim.locations
    again = await refresh(company["refresh_token"], "Company")
    assert again.status_code == 400
    assert again.json()["message"] == "Invalid grant: refresh token is invalid"
    # Reuse revoked the family's live refresh token too (as for location tokens).
    assert (await refresh(first.json()["refresh_token"], "Company")).status_code == 400
    # The access token issued before still works until it expires.
    listed = await _installed(sim, first.json()["access_token"])
    assert listed.status_code == 200


async def test_a_new_location_in_a_future_install_company(make_sim: SimFactory) -> None:
    sim = await make_sim(locations=2, contacts=1)
    company = await _company_consent(
        sim, approveAllLocations="true", installToFutureLocations="true"
    )
    await _app_events(sim)
    before = len(sim.hooks.requests)
    created = await sim.client.post(
        f"/_admin/companies/{COMPANY}/locations", json={"name": "New Branch", "contacts": 5}
    )
    assert created.status_code == 200
    new = created.json()
    assert new["installed"] is True
    await sim.rt.webhooks.drain()
    create, install = sim.hooks.bodies()[before:]
    assert create["type"] == "LocationCreate"
    assert create["id"] == new["locationId"]
    assert create["companyId"] == COMPANY
    assert create["name"] == "New Branch"
    jsonschema.Draft7Validator(_schema("LocationCreate")).validate(create)
    assert install["type"] == "INSTALL"
    assert install["locationId"] == new["locationId"]
    assert "companyId" not in install
    assert "userId" not in install
    assert len(sim.rt.state.locations[new["locationId"]].contacts) == 5
    minted = await sim.client.post(
        "/oauth/locationToken",
        data={"companyId": COMPANY, "locationId": new["locationId"]},
        headers=_bearer(company["access_token"]),
    )
    assert minted.status_code == 200
    listed = (await _installed(sim, company["access_token"], limit="10")).json()
    assert new["locationId"] in [r["_id"] for r in listed["locations"]]
    assert listed["installToFutureLocations"] is True


async def test_without_future_installs_a_new_location_only_announces_itself(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(locations=2, contacts=1)
    await _company_consent(sim, locationIds=sim.locations[0])
    await _app_events(sim)
    before = len(sim.hooks.requests)
    new = (await sim.client.post(f"/_admin/companies/{COMPANY}/locations", json={})).json()
    assert new["installed"] is False
    await sim.rt.webhooks.drain()
    assert [b["type"] for b in sim.hooks.bodies()[before:]] == ["LocationCreate"]


async def test_uninstall_sends_the_documented_shapes_and_revokes_tokens(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(locations=3, contacts=2)
    company = await _company_consent(sim, approveAllLocations="true")
    token = company["access_token"]
    minted = (
        await sim.client.post(
            "/oauth/locationToken",
            data={"companyId": COMPANY, "locationId": sim.locations[0]},
            headers=_bearer(token),
        )
    ).json()
    await _app_events(sim)
    before = len(sim.hooks.requests)
    one = await sim.client.post("/_admin/uninstall", json={"locationId": sim.locations[0]})
    assert one.json() == {"uninstalled": [sim.locations[0]], "company": False}
    twice = await sim.client.post("/_admin/uninstall", json={"locationId": sim.locations[0]})
    assert twice.json()["uninstalled"] == []
    read = await sim.client.get(
        "/contacts/", params={"locationId": sim.locations[0]},
        headers=_bearer(minted["access_token"]),
    )  # fmt: skip
    assert read.status_code == 401
    again = await sim.client.post(
        "/oauth/locationToken",
        data={"companyId": COMPANY, "locationId": sim.locations[0]},
        headers=_bearer(token),
    )
    assert again.status_code == 400
    everything = await sim.client.post("/_admin/uninstall", json={"companyId": COMPANY})
    assert everything.json() == {"uninstalled": sim.locations[1:], "company": True}
    await sim.rt.webhooks.drain()
    events = sim.hooks.bodies()[before:]
    assert [e["type"] for e in events] == ["UNINSTALL"] * 4
    assert [e.get("locationId") for e in events] == [*sim.locations, None]
    assert events[-1] == {**events[-1], "companyId": COMPANY, "appId": APP}
    for event in events:
        jsonschema.Draft7Validator(_schema("AppUninstall")).validate(event)
    assert (await _installed(sim, token)).status_code == 401  # the company token is revoked
    # Reinstall one location from the marketplace: a location-level INSTALL again.
    back = await sim.client.post("/_admin/installs", json={"locationId": sim.locations[0]})
    assert back.json() == {"installed": True}


async def test_app_webhooks_are_signed_like_the_others(sim: Sim) -> None:
    await _consent(sim, companyId=COMPANY, locationIds=sim.locations[0])
    await sim.rt.webhooks.drain()
    keys = (await sim.client.get("/_admin/webhook-public-key")).json()
    key = serialization.load_pem_public_key(keys["ed25519"].encode())
    assert isinstance(key, ed25519.Ed25519PublicKey)
    assert len(sim.hooks.requests) == 2
    for request in sim.hooks.requests:
        key.verify(base64.b64decode(request.headers["x-ghl-signature"]), request.content)


async def test_a_company_has_its_own_rate_budget(make_sim: SimFactory) -> None:
    sim = await make_sim(locations=2, contacts=1, rate_limit_max=5)
    company = await _company_consent(sim, approveAllLocations="true")
    token = company["access_token"]
    statuses = [(await _installed(sim, token)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    # The locations' budgets are untouched by the company's calls.
    read = await sim.client.get("/contacts/", params={"locationId": sim.loc}, headers=sim.headers())
    assert read.status_code == 200
    assert read.headers["x-ratelimit-remaining"] == "4"
    answer = await _installed(sim, token)
    assert answer.headers["x-ratelimit-remaining"] == "0"


async def test_admin_companies_and_the_install_dump(sim: Sim) -> None:
    made = await sim.client.post(
        "/_admin/companies", json={"companyId": "Agency2", "name": "Second", "locations": 2}
    )
    assert made.status_code == 200
    assert len(made.json()["locations"]) == 2
    assert (
        await sim.client.post("/_admin/companies", json={"companyId": "Agency2"})
    ).status_code == 400
    dump = (await sim.client.get("/_admin/installs")).json()
    assert dump["appId"] == APP
    assert [loc["id"] for loc in dump["companies"][COMPANY]["locations"]] == sim.locations
    assert [loc["id"] for loc in dump["companies"]["Agency2"]["locations"]] == made.json()[
        "locations"
    ]
    token = (await sim.client.post("/_admin/company-tokens", json={"companyId": "Agency2"})).json()
    assert token["userType"] == "Company"
    listed = await sim.client.get(
        "/oauth/installedLocations",
        params={"companyId": "Agency2", "appId": APP},
        headers=_bearer(token["access_token"]),
    )
    assert [r["isInstalled"] for r in listed.json()["locations"]] == [False, False]
    assert await _app_events(sim) == []
