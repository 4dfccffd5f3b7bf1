"""Admin endpoints under `/_admin/`: ground truth, keys, faults, tokens, activity, webhooks.

They need no credentials and are not part of GHL: never expose a simulator publicly.

- `GET  /_admin/state`: every location's contacts (with tags), tasks, notes, appointments,
  campaign/workflow membership and deleted ids (REST shapes; tasks and notes add their times).
- `GET  /_admin/webhook-public-key`: `{ed25519, rsa}` public keys as PEM.
- `GET|POST /_admin/faults`: read / replace the fault settings (fields of `FaultSettings`;
  a POST body merges into the current ones).
- `POST /_admin/tokens`: `{locationId, scopes?, expiresIn?}` -> a token response, as
  `/oauth/token` would answer after consent.
- `POST /_admin/activity`: `{steps}` -> run that many generator steps now.
- `GET  /_admin/webhooks`: the delivery log; `POST /_admin/webhooks/drain` waits for pending
  deliveries; `PUT /_admin/webhooks/urls` `{urls}` replaces the target URLs.
- `PUT  /_admin/locations/{id}/settings`: `{allowDuplicates?, duplicatePriority?}`.
- `POST /_admin/rate-limits/reset`: forget all request counts.
- `GET|PUT /_admin/search-lag` `{seconds}`: how far the search index lags writes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.simulator._errors import ApiError
from services.simulator.dto import validate
from services.simulator.oauth import token_response
from services.simulator.runtime import runtime
from services.simulator.settings import ALL_SCOPES, FaultSettings

__all__ = ["router"]

router = APIRouter(prefix="/_admin")


class _TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locationId: str
    scopes: list[str] = list(ALL_SCOPES)
    expiresIn: int | None = Field(default=None, ge=1)


class _ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=1, ge=0, le=100_000)


class _UrlsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[str]


class _SearchLagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=3600)


class _LocationSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowDuplicates: bool | None = None
    duplicatePriority: list[str] | None = None


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ApiError(400, "Unexpected token in JSON body") from exc


@router.get("/state")
async def dump_state(request: Request) -> dict[str, Any]:
    """The complete ground truth."""
    return runtime(request).state.dump()


@router.get("/webhook-public-key")
async def public_keys(request: Request) -> dict[str, str]:
    """The public keys receivers verify webhooks with."""
    return runtime(request).signer.public_keys()


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    """The current fault settings."""
    return runtime(request).faults.current.model_dump()


@router.post("/faults")
async def set_faults(request: Request) -> dict[str, Any]:
    """Merge the body into the fault settings; `{}` after `reset=true` clears them."""
    rt = runtime(request)
    data = await _json(request)
    base = {} if request.query_params.get("reset") == "true" else rt.faults.current.model_dump()
    rt.faults.current = validate(FaultSettings, {**base, **data})
    return rt.faults.current.model_dump()


@router.post("/tokens")
async def mint_token(request: Request) -> dict[str, Any]:
    """A ready token pair for one location."""
    rt = runtime(request)
    body = validate(_TokenIn, await _json(request))
    if body.locationId not in rt.state.locations:
        raise ApiError(400, f"Unknown locationId {body.locationId}")
    pair = rt.tokens.mint(body.locationId, frozenset(body.scopes), expires_in=body.expiresIn)
    return token_response(rt, pair)


@router.post("/activity")
async def run_activity(request: Request) -> dict[str, Any]:
    """Run generator steps synchronously."""
    rt = runtime(request)
    body = validate(_ActivityIn, await _json(request))
    return {"steps": [rt.activity.step() for _ in range(body.steps)]}


@router.get("/webhooks")
async def webhook_log(request: Request) -> dict[str, Any]:
    """Delivery log (newest last) and the target URLs."""
    rt = runtime(request)
    limit = request.query_params.get("limit")
    records = list(rt.webhooks.log)
    if limit is not None:
        if not limit.isdigit():
            raise ApiError(400, "limit must be a non-negative integer")
        records = records[len(records) - int(limit) :] if int(limit) else []
    return {
        "urls": rt.webhooks.urls,
        "pending": rt.webhooks.pending,
        "stats": rt.webhooks.stats(),
        "deliveries": [r.as_json() for r in records],
    }


@router.post("/webhooks/drain")
async def drain_webhooks(request: Request) -> dict[str, Any]:
    """Wait until no delivery is pending."""
    await runtime(request).webhooks.drain()
    return {"pending": 0}


@router.put("/webhooks/urls")
async def set_webhook_urls(request: Request) -> dict[str, Any]:
    """Replace the webhook target URLs."""
    rt = runtime(request)
    rt.webhooks.urls = list(validate(_UrlsIn, await _json(request)).urls)
    return {"urls": rt.webhooks.urls}


@router.put("/locations/{locationId}/settings")
async def location_settings(locationId: str, request: Request) -> dict[str, Any]:
    """Change a location's duplicate-contact setting."""
    rt = runtime(request)
    loc = rt.state.locations.get(locationId)
    if loc is None:
        raise ApiError(400, f"Unknown locationId {locationId}")
    body = validate(_LocationSettingsIn, await _json(request))
    if body.allowDuplicates is not None:
        loc.allow_duplicates = body.allowDuplicates
    if body.duplicatePriority is not None:
        loc.duplicate_priority = tuple(body.duplicatePriority)
    return {"allowDuplicates": loc.allow_duplicates, "duplicatePriority": loc.duplicate_priority}


@router.post("/rate-limits/reset")
async def reset_rate_limits(request: Request) -> dict[str, Any]:
    """Forget all request counts."""
    runtime(request).limiter.reset()
    return {"reset": True}


@router.get("/search-lag")
async def get_search_lag(request: Request) -> dict[str, Any]:
    """The search index lag in seconds."""
    return {"seconds": runtime(request).state.search_lag_seconds}


@router.put("/search-lag")
async def set_search_lag(request: Request) -> dict[str, Any]:
    """Change the search index lag (changes made from now on are held back that long)."""
    rt = runtime(request)
    rt.state.search_lag_seconds = validate(_SearchLagIn, await _json(request)).seconds
    return {"seconds": rt.state.search_lag_seconds}
