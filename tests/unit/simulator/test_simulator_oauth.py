"""OAuth: consent page, code exchange, single-use rotating refresh tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator_harness import Sim, SimFactory
from simulator_spec import check

CLIENT = {"client_id": "ghl-sync-simulator", "client_secret": "simulator-client-secret"}
CONSENT = {
    "response_type": "code",
    "client_id": "ghl-sync-simulator",
    "redirect_uri": "http://localhost:8765/callback",
    "scope": "contacts.readonly contacts.write",
}


async def _token(sim: Sim, **form: str) -> Any:
    return await sim.client.post("/oauth/token", data={**CLIENT, **form})


async def _code(sim: Sim, path: str = "/v2/oauth/chooselocation", **extra: str) -> str:
    response = await sim.client.get(path, params={**CONSENT, "approve": "true", **extra})
    assert response.status_code == 302
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == CONSENT["redirect_uri"]
    query = parse_qs(target.query)
    if "state" in extra:
        assert query["state"] == [extra["state"]]
    return query["code"][0]


async def test_consent_page_shows_a_form_of_locations(sim: Sim) -> None:
    page = await sim.client.get("/oauth/chooselocation", params=CONSENT)
    assert page.status_code == 200
    assert all(loc in page.text for loc in sim.locations)
    assert 'name="approve"' in page.text


async def test_code_exchange_gives_a_location_token(sim: Sim) -> None:
    code = await _code(sim, locationId=sim.locations[1], state="xyz")
    response = await _token(sim, grant_type="authorization_code", code=code,
                            redirect_uri=CONSENT["redirect_uri"])  # fmt: skip
    assert response.status_code == 200
    assert check("apps/oauth.json", "POST", "/oauth/token", response)
    body = response.json()
    assert body["locationId"] == sim.locations[1]
    assert body["userType"] == "Location"
    assert body["scope"] == "contacts.readonly contacts.write"
    listed = await sim.client.get(
        "/contacts/", params={"locationId": sim.locations[1]},
        headers=sim.headers(body["access_token"]),
    )  # fmt: skip
    assert listed.status_code == 200
    again = await _token(sim, grant_type="authorization_code", code=code)
    assert again.status_code == 400


async def test_old_consent_path_works_too(sim: Sim) -> None:
    code = await _code(sim, path="/oauth/chooselocation")
    response = await _token(sim, grant_type="authorization_code", code=code)
    assert response.json()["locationId"] == sim.loc


async def test_refresh_tokens_are_single_use_and_rotate(sim: Sim) -> None:
    first = await sim.mint()
    second = await _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    reused = await _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json() == {
        "statusCode": 400,
        "message": "Invalid grant: refresh token is invalid",
    }
    # Reuse revoked the family: the live refresh token is dead too.
    live = await _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert live.status_code == 400
    # Access tokens already issued keep working until they expire.
    cid = await sim.contact_id()
    ok = await sim.client.get(f"/contacts/{cid}", headers=sim.headers(pair["access_token"]))
    assert ok.status_code == 200


async def test_reuse_without_family_revocation(make_sim: SimFactory) -> None:
    sim = await make_sim(refresh_reuse_revokes_family=False)
    first = await sim.mint()
    pair = (await _token(sim, grant_type="refresh_token",
                         refresh_token=first["refresh_token"])).json()  # fmt: skip
    reused = await _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    live = await _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert live.status_code == 200


async def test_client_credentials_and_parameters_are_checked(sim: Sim) -> None:
    pair = await sim.mint()
    wrong = await sim.client.post("/oauth/token", data={
        **CLIENT, "client_secret": "nope", "grant_type": "refresh_token",
        "refresh_token": pair["refresh_token"],
    })  # fmt: skip
    assert wrong.status_code == 401
    assert "nope" not in wrong.text
    bad_grant = await _token(sim, grant_type="password")
    assert (bad_grant.status_code, bad_grant.json()["message"]) == (
        400, "Invalid parameter: grant_type",
    )  # fmt: skip
    missing = await sim.client.post("/oauth/token", data={"grant_type": "refresh_token"})
    assert missing.status_code == 422
    assert check("apps/oauth.json", "POST", "/oauth/token", missing)
    still_good = await _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert still_good.status_code == 200


async def test_codes_expire(sim: Sim) -> None:
    code = await _code(sim)
    sim.clock.advance(601)
    response = await _token(sim, grant_type="authorization_code", code=code)
    assert response.status_code == 400
