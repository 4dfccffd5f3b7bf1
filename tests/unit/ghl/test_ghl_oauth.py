"""OAuth without a database: consent URL, code exchange, refresh timing, secrets kept out."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from ghl_helpers import CID, LOC, ClientFactory, fast_settings
from pydantic import SecretStr

from services.ghl import AuthError, GhlSettings, ValidationFailed
from services.ghl._crypto import TokenCipher, generate_key
from services.ghl._oauth import OAuthClient
from services.ghl.tokens import InMemoryTokenStore, OAuthTokenProvider, StoredToken
from tests.factories.ghl import stored_token

SECRETS = ("app-secret-value", "access-old", "refresh-old", "access-new", "refresh-new")


def _token_endpoint(log: list[dict[str, str]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        log.append(form)
        if form.get("refresh_token") not in (None, "refresh-old"):
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(
            200,
            json={
                "access_token": "access-new",
                "refresh_token": "refresh-new",
                "expires_in": 86399,
                "locationId": LOC,
                "scope": "contacts.readonly",
            },
        )

    return httpx.MockTransport(handler)


async def _store(expires_in: float) -> InMemoryTokenStore:
    store = InMemoryTokenStore()
    await store.save(stored_token(LOC, "access-old", "refresh-old", expires_in=expires_in))
    return store


def test_consent_url_names_the_app_redirect_and_scopes() -> None:
    settings = fast_settings(redirect_uri="http://127.0.0.1:9/cb", scopes="contacts.readonly x.y")
    url = OAuthClient(settings).consent_url(state="abc")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert url.startswith("https://marketplace.gohighlevel.com/v2/oauth/chooselocation?")
    assert query == {
        "response_type": "code",
        "client_id": "app-client",
        "redirect_uri": "http://127.0.0.1:9/cb",
        "scope": "contacts.readonly x.y",
        "state": "abc",
    }
    assert "app-secret-value" not in url


async def test_code_exchange_posts_the_form_and_returns_the_pair() -> None:
    forms: list[dict[str, str]] = []
    oauth = OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    grant = await oauth.exchange_code("the-code")
    assert forms[0]["grant_type"] == "authorization_code"
    assert forms[0]["code"] == "the-code"
    assert forms[0]["user_type"] == "Location"
    assert grant.access_token.get_secret_value() == "access-new"
    assert grant.location_id == LOC
    assert StoredToken.from_grant(grant).location_id == LOC
    await oauth.aclose()


async def test_tokens_refresh_before_expiry_once_for_concurrent_callers() -> None:
    forms: list[dict[str, str]] = []
    store = await _store(expires_in=120)  # inside the 300 s margin
    provider = OAuthTokenProvider(
        store, OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    )
    tokens = await asyncio.gather(*(provider.access_token(LOC) for _ in range(20)))
    assert set(tokens) == {"access-new"}
    assert len(forms) == 1
    stored = await store.load(LOC)
    assert stored is not None
    assert stored.refresh_token == SecretStr("refresh-new")


async def test_a_fresh_token_is_not_refreshed() -> None:
    forms: list[dict[str, str]] = []
    store = await _store(expires_in=3600)
    provider = OAuthTokenProvider(
        store, OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    )
    assert await provider.access_token(LOC) == "access-old"
    assert forms == []


async def test_saving_or_deleting_through_the_provider_replaces_its_cached_token() -> None:
    forms: list[dict[str, str]] = []
    store = await _store(expires_in=3600)
    provider = OAuthTokenProvider(
        store, OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    )
    assert await provider.access_token(LOC) == "access-old"  # cached from here on
    await provider.save(stored_token(LOC, "access-granted", "refresh-granted", expires_in=3600))
    assert await provider.holds(LOC)
    assert await provider.access_token(LOC) == "access-granted"
    await provider.delete(LOC)
    assert await store.load(LOC) is None
    assert not await provider.holds(LOC)
    with pytest.raises(AuthError):  # no cached token outlives the UNINSTALL
        await provider.access_token(LOC)
    assert forms == []


async def test_client_401_refreshes_through_the_provider(make_client: ClientFactory) -> None:
    forms: list[dict[str, str]] = []
    store = await _store(expires_in=3600)
    provider = OAuthTokenProvider(
        store, OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    )

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer access-old":
            return httpx.Response(401, json={"message": "Invalid token: access token is invalid"})
        return httpx.Response(200, json={"contact": {"id": CID}})

    async with make_client(api, tokens=provider) as client:
        assert (await client.get_contact(LOC, CID)).id == CID
    assert len(forms) == 1


def test_settings_never_show_their_secrets() -> None:
    key = generate_key()
    settings = GhlSettings.model_validate(
        {
            "client_secret": "app-secret-value",
            "private_integration_token": "pit-very-secret",
            "token_encryption_key": key,
        }
    )
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("app-secret-value", "pit-very-secret", key):
        assert secret not in shown
    assert key not in repr(TokenCipher(settings.token_encryption_key))


async def test_no_secret_in_logs_or_errors(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forms: list[dict[str, str]] = []
    store = await _store(expires_in=3600)
    provider = OAuthTokenProvider(
        store, OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    )
    answers = iter(
        [
            httpx.Response(401, json={"message": "Invalid token"}),
            httpx.Response(429, json={"message": "slow"}),
            httpx.Response(503),
            httpx.Response(422, json={"message": ["property additionalEmails should not exist"]}),
        ]
    )
    async with make_client(lambda request: next(answers), tokens=provider) as client:
        with pytest.raises(ValidationFailed) as info:
            await client.get_contact(LOC, CID)
    refused = OAuthTokenProvider(
        InMemoryTokenStore(), OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    )
    with pytest.raises(AuthError) as auth:
        await refused.access_token(LOC)
    bad_refresh = OAuthClient(fast_settings(), transport=_token_endpoint(forms))
    with pytest.raises(AuthError) as grant:
        await bad_refresh.refresh(SecretStr("refresh-stale"))
    shown = "\n".join(
        [
            caplog.text,
            str(info.value),
            str(auth.value),
            str(grant.value),
            repr(provider),
            repr(store),
            repr(await store.load(LOC)),
        ]
    )
    assert "401" in caplog.text or "refreshing" in caplog.text
    for secret in (*SECRETS, "refresh-stale"):
        assert secret not in shown, secret


# --- agency installs: Company grants, locationToken, installedLocations -----------------


def _agency_endpoint(calls: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/oauth/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            body = {
                "access_token": "company-access",
                "refresh_token": "company-refresh",
                "expires_in": 86399,
                "userType": "Company",
                "companyId": "cmp-1",
                "userId": "user-1",
                "isBulkInstallation": True,
                "approvedLocations": ["loc-a", "loc-b"],
                "installToFutureLocations": True,
                "approveAllLocations": False,
            }
            if form["grant_type"] == "refresh_token":
                body = {"accessToken": "company-access-2", "refreshToken": "company-refresh-2",
                        "expiresIn": 60, "userType": "Company", "companyId": "cmp-1"}  # fmt: skip
            return httpx.Response(200, json=body)
        if request.url.path == "/oauth/locationToken":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            return httpx.Response(
                200,
                json={"access_token": "loc-access", "refresh_token": "loc-refresh",
                      "expires_in": 86399, "locationId": form["locationId"],
                      "userType": "Location"},
            )  # fmt: skip
        if request.url.path == "/oauth/installedLocations":
            skip, limit = int(request.url.params["skip"]), int(request.url.params["limit"])
            rows = [{"_id": f"loc-{n}", "name": f"L{n}", "isInstalled": True} for n in range(45)]
            return httpx.Response(
                200,
                json={"locations": rows[skip : skip + limit], "count": 60,
                      "installToFutureLocations": False},
            )  # fmt: skip
        return httpx.Response(404)

    return httpx.MockTransport(handler)


async def test_a_company_grant_is_read_and_stored_under_the_company() -> None:
    calls: list[httpx.Request] = []
    oauth = OAuthClient(fast_settings(), transport=_agency_endpoint(calls))
    grant = await oauth.exchange_code("code")
    assert grant.is_company
    assert (grant.company_id, grant.location_id, grant.user_id) == ("cmp-1", None, "user-1")
    assert grant.is_bulk_installation
    assert grant.approved_locations == ("loc-a", "loc-b")
    assert (grant.install_to_future_locations, grant.approve_all_locations) == (True, False)
    token = StoredToken.from_grant(grant)
    assert (token.location_id, token.company_id, token.user_type) == ("cmp-1", "cmp-1", "Company")
    # Company tokens refresh with user_type=Company; the v3 camelCase answer is read too.
    renewed = await oauth.refresh(SecretStr("company-refresh"), user_type="Company")
    form = {k: v[0] for k, v in parse_qs(calls[-1].content.decode()).items()}
    assert form["user_type"] == "Company"
    assert renewed.access_token.get_secret_value() == "company-access-2"
    assert renewed.refresh_token == SecretStr("company-refresh-2")
    await oauth.aclose()


async def test_location_token_is_minted_with_the_company_token() -> None:
    calls: list[httpx.Request] = []
    oauth = OAuthClient(fast_settings(), transport=_agency_endpoint(calls))
    grant = await oauth.location_token("company-access", company_id="cmp-1", location_id="loc-9")
    request = calls[-1]
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer company-access"
    assert request.headers["version"] == "2021-07-28"
    assert parse_qs(request.content.decode()) == {"companyId": ["cmp-1"], "locationId": ["loc-9"]}
    assert (grant.location_id, grant.company_id) == ("loc-9", "cmp-1")
    assert grant.refresh_token == SecretStr("loc-refresh")
    await oauth.aclose()


async def test_installed_locations_are_paged_by_skip_and_limit() -> None:
    calls: list[httpx.Request] = []
    oauth = OAuthClient(fast_settings(), transport=_agency_endpoint(calls))
    rows = [
        r.location_id
        async for r in oauth.iter_installed_locations(
            "company-access", company_id="cmp-1", app_id="app-1"
        )
    ]
    assert rows == [f"loc-{n}" for n in range(45)]
    assert [c.url.params["skip"] for c in calls] == ["0", "20", "40"]
    assert {c.url.params["appId"] for c in calls} == {"app-1"}
    assert {c.url.params["isInstalled"] for c in calls} == {"true"}
    await oauth.aclose()


async def test_a_refused_location_refresh_mints_from_the_company_and_a_company_one_raises() -> None:
    class Minter:
        def __init__(self) -> None:
            self.asked: list[str] = []

        async def mint(self, location_id: str) -> StoredToken | None:
            self.asked.append(location_id)
            return stored_token(
                location_id,
                "minted-access",
                "minted-refresh",
                expires_in=86_400,  # a day
                company_id="cmp-1",
            )

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant"})

    minter = Minter()
    store = await _store(expires_in=0)
    oauth = OAuthClient(fast_settings(), transport=httpx.MockTransport(refuse))
    provider = OAuthTokenProvider(store, oauth, minter=minter)
    assert await provider.access_token(LOC) == "minted-access"
    assert minter.asked == [LOC]
    stored = await store.load(LOC)
    assert stored is not None
    assert stored.refresh_token == SecretStr("minted-refresh")
    # No stored pair at all: minted on first use.
    assert await provider.access_token("loc-new") == "minted-access"
    # A Company token has no parent: its refused refresh is an error.
    companies = InMemoryTokenStore()
    await companies.save(stored_token("cmp-1", "c", "r", expires_in=0, user_type="Company"))
    with pytest.raises(AuthError, match="invalid_grant"):
        await OAuthTokenProvider(companies, oauth, minter=minter).access_token("cmp-1")
    await oauth.aclose()
