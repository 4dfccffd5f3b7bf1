"""Which location a Private Integration Token polls, when `GHL_SYNC_POLLER_LOCATIONS` is empty.

A PIT is an opaque `pit-...` string: nothing in it names its location, and no GHL endpoint is
documented to answer "whose token is this". The one plausible call is `GET /locations/search`
(`apps/locations.json`): it accepts a sub-account token (security `Location-Access`, whose
description names "Private Integration Token of Sub-Account") with the `locations.readonly`
scope. What it lists for such a token is UNCONFIRMED; we take the reading that a sub-account
token sees its own sub-account only (../shared/ghl/REFERENCE.md, section 4, "Private
Integration Tokens"; the simulator answers so). Hence:

- exactly one location listed: the poller polls it;
- several (an agency PIT sees every sub-account of its agency): refused, naming the ids, as
  an agency PIT cannot read a sub-account's contacts anyway (contacts take location tokens);
- none, or GHL refuses the call (the PIT lacks `locations.readonly`): refused, saying to add
  the scope or to set `GHL_SYNC_POLLER_LOCATIONS`.

Every refusal is one line naming the variable to set; none holds the token.
"""

from __future__ import annotations

import httpx

from services.ghl import (
    AuthError,
    GhlClient,
    GhlError,
    GhlSettings,
    InMemoryRateLimiter,
    build_client,
    build_token_provider,
)

__all__ = ["PIT_BUDGET", "PitLocationUnknown", "discover_pit_location", "pit_location"]

PIT_BUDGET = "private-integration-token"
"""The request budget the one discovery call is booked under (no location is known yet)."""

_SET = "set GHL_SYNC_POLLER_LOCATIONS='[\"<location id>\"]' (the id in the sub-account's address "
_SET += "in GHL, .../location/<id>/...)"


class PitLocationUnknown(Exception):
    """The PIT's location could not be found; the message says what to set."""


async def pit_location(client: GhlClient) -> str:
    """The one location the client's Private Integration Token sees (see the module docstring)."""
    try:
        found = await client.search_locations(PIT_BUDGET, limit=10)
    except AuthError as exc:
        raise PitLocationUnknown(
            "GHL_SYNC_POLLER_LOCATIONS is empty and GHL refused to list the Private Integration "
            "Token's location (GET /locations/search): the token lacks the locations.readonly "
            f"scope (View Locations) or is no longer valid; give it that scope, or {_SET}"
        ) from exc
    except GhlError as exc:
        raise PitLocationUnknown(
            "GHL_SYNC_POLLER_LOCATIONS is empty and the Private Integration Token's location "
            f"could not be read (GET /locations/search: {exc}); {_SET}"
        ) from exc
    ids: list[str] = sorted({str(location["id"]) for location in found})
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise PitLocationUnknown(
            "GHL_SYNC_POLLER_LOCATIONS is empty and GET /locations/search lists no location for "
            f"the Private Integration Token; {_SET}"
        )
    raise PitLocationUnknown(
        "GHL_SYNC_POLLER_LOCATIONS is empty and the Private Integration Token sees "
        f"{len(ids)}{'+' if len(ids) >= 10 else ''} locations ({', '.join(ids)}; an agency "
        "token?); use a sub-account's token, or set GHL_SYNC_POLLER_LOCATIONS to the ones to poll"
    )


async def discover_pit_location(
    ghl: GhlSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> str:
    """`pit_location` with a client of its own, before the poller opens PostgreSQL or Kafka:
    one request, so an in-memory budget is enough, and a refusal comes at once."""
    client = build_client(
        ghl,
        token_provider=build_token_provider(ghl, pool=None),
        rate_limiter=InMemoryRateLimiter(),
        transport=transport,
    )
    async with client:
        return await pit_location(client)
