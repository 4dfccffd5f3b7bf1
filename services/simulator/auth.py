"""Per-operation checks: the `Version` header, bearer token, rate limit, scope, faults.

Every GHL route depends on `guard(scope, version)`. The checks run in this order (UNCONFIRMED
order and messages, chosen as plausible for GHL's gateway):

1. `Version` missing: 400 `Version header was not found`; a value other than the one the
   operation's spec declares: 400 `Version header is invalid` (the calendar operations want
   `2021-04-15`, the others `2021-07-28`).
2. Missing, unknown or expired bearer token: 401 `Invalid token: access token is invalid`
   (the spec's UnauthorizedDTO example).
3. The request is counted against the token's (app, location) budget: 429 when exhausted.
4. Scope not granted: 401 `The token is not authorized for this scope.`
5. Injected faults (latency, storm 429s, 5xx; a stall after applying).

Reaching another location's data answers 403 `The token does not have access to this
location.`, whether the location comes from the request or from the record asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.simulator._errors import ApiError
from services.simulator.runtime import runtime
from services.simulator.state import LocationData
from services.simulator.tokens import AccessGrant

__all__ = [
    "CALENDARS_VERSION",
    "CONTACTS_VERSION",
    "Caller",
    "ContactsReader",
    "ContactsWriter",
    "bearer_token",
    "check_version",
    "guard",
]

CONTACTS_VERSION = "2021-07-28"
CALENDARS_VERSION = "2021-04-15"
_FORBIDDEN = "The token does not have access to this location."


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request."""

    grant: AccessGrant
    location: LocationData

    def check_location(self, location_id: str) -> None:
        """403 unless the token is for `location_id`."""
        if location_id != self.grant.location_id:
            raise ApiError(403, _FORBIDDEN)

    def queried_location(self, request: Request) -> str:
        """The `locationId` query parameter: 422 when absent, 403 unless it is the token's."""
        location_id = request.query_params.get("locationId")
        if not location_id:
            raise ApiError(422, ["locationId should not be empty"])
        self.check_location(location_id)
        return location_id


def check_version(request: Request, version: str) -> None:
    """400 unless the request carries the operation's `Version` header."""
    got = request.headers.get("version")
    if got is None:
        raise ApiError(400, "Version header was not found")
    if got != version:
        raise ApiError(400, "Version header is invalid")


def bearer_token(request: Request) -> str | None:
    """The token of the `Authorization: Bearer` header, if there is one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def guard(scope: str, version: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency enforcing one operation's Version header and scope."""

    async def check(request: Request) -> Caller:
        rt = runtime(request)
        check_version(request, version)
        token = bearer_token(request)
        grant = rt.tokens.lookup(token) if token else None
        location = rt.state.locations.get(grant.location_id) if grant else None
        if grant is None or location is None:
            raise ApiError(401, "Invalid token: access token is invalid")
        decision = rt.limiter.hit(grant.budget, grant.location_id)
        request.state.ratelimit_headers = decision.headers
        if not decision.allowed:
            raise ApiError(429, "Too Many Requests")
        if scope not in grant.scopes:
            raise ApiError(401, "The token is not authorized for this scope.")
        await rt.faults.before_request()
        stall = rt.faults.stall_seconds()
        if stall is not None:
            request.state.stall_seconds = stall
        return Caller(grant, location)

    return check


ContactsReader = Annotated[Caller, Depends(guard("contacts.readonly", CONTACTS_VERSION))]
"""A route parameter: the caller of an operation that reads contacts."""
ContactsWriter = Annotated[Caller, Depends(guard("contacts.write", CONTACTS_VERSION))]
"""A route parameter: the caller of an operation that writes contacts."""
