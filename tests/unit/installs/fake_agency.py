"""GHL's OAuth server for one agency, as documented (REFERENCE.md section 4), behind
`httpx.MockTransport`: the code exchange answering with a Company token, Company and Location
refreshes (single use, rotating), `POST /oauth/locationToken`, `GET /oauth/installedLocations`.
It counts every call, so tests can assert what was spent."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import httpx

APP_ID = "app0000000000000001"
CLIENT_ID = f"{APP_ID}-lx0client"
SECRET = "app-secret-value"


def location_id(n: int) -> str:
    return f"loc{n:017d}"


class FakeAgencyGhl:
    """One company with its locations; `installed` says where the app is."""

    def __init__(self, company: str = "cmp00000000000000001", *, locations: int = 3) -> None:
        self.company = company
        self.names = {location_id(n): f"Sub-account {n}" for n in range(1, locations + 1)}
        self.installed: set[str] = set(self.names)
        self.future = True
        self.calls: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._n = itertools.count(1)
        self.company_refresh: set[str] = set()
        self.company_access: set[str] = set()
        self.location_refresh: dict[str, str] = {}
        self.location_access: dict[str, str] = {}
        self.refuse_location_refresh: set[str] = set()
        self.delay = 0.0
        self.without_oauth_scopes = False

    def add_location(self, n: int) -> str:
        where = location_id(n)
        self.names[where] = f"Sub-account {n}"
        return where

    # --- answers ---

    def _company_pair(self) -> dict[str, Any]:
        n = next(self._n)
        access, refresh = f"company-access-{n}", f"company-refresh-{n}"
        self.company_access.add(access)
        self.company_refresh.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": 86399,
            "scope": "oauth.readonly oauth.write contacts.readonly",
            "userType": "Company",
            "companyId": self.company,
            "userId": "user0000000000000001",
        }

    def code_answer(self) -> dict[str, Any]:
        return {
            **self._company_pair(),
            "isBulkInstallation": True,
            "approvedLocations": sorted(self.installed),
            "installToFutureLocations": self.future,
            "approveAllLocations": True,
        }

    def _location_pair(self, where: str) -> dict[str, Any]:
        n = next(self._n)
        access, refresh = f"loc-access-{n}", f"loc-refresh-{n}"
        self.location_access[access] = where
        self.location_refresh[refresh] = where
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": 86399,
            "scope": "contacts.readonly",
            "userType": "Location",
            "locationId": where,
            "companyId": self.company,
            "userId": "user0000000000000001",
        }

    @staticmethod
    def _refused(message: str, status: int = 400) -> httpx.Response:
        return httpx.Response(status, json={"error": "invalid_grant", "error_description": message})

    def _company_bearer(self, request: httpx.Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.company_access

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        path = request.url.path
        if path == "/oauth/token":
            return self._token(request)
        if path == "/oauth/locationToken":
            return self._location_token(request)
        if path == "/oauth/installedLocations":
            return self._installed(request)
        return httpx.Response(404, json={"message": f"no route {path}"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("client_secret") != SECRET:
            return httpx.Response(401, json={"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            self.calls["code"] += 1
            return httpx.Response(200, json=self.code_answer())
        if grant != "refresh_token":
            return self._refused("Invalid parameter: grantType")
        token = form.get("refresh_token", "")
        if form.get("user_type") == "Company":
            self.calls["company_refresh"] += 1
            if token not in self.company_refresh:
                self.rejected["company_refresh"] += 1
                return self._refused("Invalid grant: refresh token is invalid")
            self.company_refresh.discard(token)
            return httpx.Response(200, json=self._company_pair())
        self.calls["location_refresh"] += 1
        where = self.location_refresh.pop(token, None)
        if where is None or where in self.refuse_location_refresh:
            self.rejected["location_refresh"] += 1
            return self._refused("Invalid grant: refresh token is invalid")
        return httpx.Response(200, json=self._location_pair(where))

    def _location_token(self, request: httpx.Request) -> httpx.Response:
        self.calls["location_token"] += 1
        if request.headers.get("version") != "2021-07-28":
            return httpx.Response(400, json={"message": "Version header was not found"})
        if not self._company_bearer(request):
            self.rejected["location_token"] += 1
            return httpx.Response(401, json={"message": "Invalid token"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("companyId") != self.company:
            return httpx.Response(403, json={"message": "The token does not have access"})
        where = form.get("locationId", "")
        if where not in self.installed:
            self.rejected["location_token"] += 1
            return httpx.Response(400, json={"message": "App is not installed on location"})
        return httpx.Response(200, json=self._location_pair(where))

    def _installed(self, request: httpx.Request) -> httpx.Response:
        self.calls["installed_pages"] += 1
        if self.without_oauth_scopes:
            return httpx.Response(
                401, json={"message": "The token is not authorized for this scope."}
            )
        if not self._company_bearer(request):
            return httpx.Response(401, json={"message": "Invalid token"})
        q = request.url.params
        if q.get("companyId") != self.company or q.get("appId") != APP_ID:
            return httpx.Response(400, json={"message": "companyId and appId are required"})
        skip, limit = int(q.get("skip", "0")), int(q.get("limit", "20"))
        rows = [
            {"_id": where, "name": self.names[where], "isInstalled": True}
            for where in sorted(self.installed)
        ]
        return httpx.Response(
            200,
            json={
                "locations": rows[skip : skip + limit],
                "count": len(self.names),
                "installToFutureLocations": self.future,
            },
        )
