"""Contact listing: the deprecated list, search, duplicate search, contacts of a business.

The ordering, cursor and filter semantics are in `search`'s docstring. The list and the search
read the search index, which lags writes by `search_lag_seconds` (see `state`; UNCONFIRMED that
GHL's list endpoint is index-backed too); the duplicate search and reads by id do not lag.
A search's filtered, sorted result is cached until the location's contacts change, so paging a
large location costs one sort. The list's `meta` follows the spec's (unwired)
`ContactsMetaSchema`; `nextPageUrl`, `nextPage` are null on the last page (UNCONFIRMED).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.datastructures import URL

from services.simulator._errors import ApiError
from services.simulator.auth import Caller
from services.simulator.auth import ContactsReader as Reader
from services.simulator.contact_input import normalize_phone
from services.simulator.dto import SearchIn, read_body
from services.simulator.render import contact_rest
from services.simulator.runtime import runtime
from services.simulator.search import (
    after_cursor,
    epoch_ms,
    filter_contacts,
    matches_query,
    sort_contacts,
    sort_key_values,
)

__all__ = ["router"]

router = APIRouter()
_MAX_DEPTH = 10_000


def _int(name: str, raw: str | None, default: int, *, low: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(float(raw))
    except ValueError as exc:
        raise ApiError(422, [f"{name} must be a number"]) from exc
    if value < low:
        raise ApiError(422, [f"{name} must not be less than {low}"])
    if high is not None and value > high:
        raise ApiError(422, [f"{name} must not be greater than {high}"])
    return value


def _ms_of(contact: dict[str, Any]) -> int:
    return epoch_ms(contact["dateAdded"]) or 0


def _json_response(content: dict[str, Any]) -> Response:
    body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, media_type="application/json")


def _indexed(request: Request, caller: Caller) -> list[dict[str, Any]]:
    """The caller's location's contacts as the (possibly lagging) search index has them."""
    state = runtime(request).state
    return [state.rendered(c) for c in state.searchable_contacts(caller.location.id)]


@router.get("/contacts/")
@router.get("/contacts", include_in_schema=False)
async def list_contacts(caller: Reader, request: Request) -> Response:
    """`get-contacts` (deprecated): `limit` <= 100, `startAfter` + `startAfterId` cursor."""
    params = request.query_params
    caller.queried_location(request)
    limit = _int("limit", params.get("limit"), 20, low=1, high=100)
    start_after = params.get("startAfter")
    after_ms = _int("startAfter", start_after, 0, low=0, high=None) if start_after else None
    after_id = params.get("startAfterId") or None
    everything = _indexed(request, caller)
    matching = [c for c in everything if matches_query(c, params.get("query"))]
    matching.sort(key=lambda c: (_ms_of(c), c["id"]))
    if after_ms is not None:
        position = (after_ms, after_id or "")
        rest = [c for c in matching if (_ms_of(c), c["id"]) > position]
    elif after_id is not None:
        ids = [c["id"] for c in matching]
        rest = matching[ids.index(after_id) + 1 :] if after_id in ids else []
    else:
        rest = matching
    page = rest[:limit]
    before = len(matching) - len(rest)
    current = before // limit + 1
    more = len(rest) > limit
    meta: dict[str, Any] = {
        "total": len(matching),
        "nextPageUrl": None,
        "startAfterId": page[-1]["id"] if page else None,
        "startAfter": _ms_of(page[-1]) if page else None,
        "currentPage": current,
        "nextPage": current + 1 if more else None,
        "prevPage": current - 1 if current > 1 else None,
    }
    if more:
        meta["nextPageUrl"] = str(
            URL(str(request.url)).include_query_params(
                startAfter=meta["startAfter"], startAfterId=meta["startAfterId"], limit=limit
            )
        )
    return _json_response({"contacts": page, "count": len(matching), "meta": meta})


@router.post("/contacts/search")
async def search_contacts(caller: Reader, request: Request) -> Response:
    """`search-contacts-advanced`: `{contacts, total}`, each item with its `searchAfter`."""
    body = await read_body(request, SearchIn)
    caller.check_location(body.locationId)
    if body.page is not None and body.searchAfter is not None:
        raise ApiError(422, ["page and searchAfter cannot be used together"])

    def compute() -> list[dict[str, Any]]:
        everything = _indexed(request, caller)
        matching = [c for c in everything if matches_query(c, body.query)]
        return sort_contacts(filter_contacts(matching, body.filters), body.sort)

    key = json.dumps(["search", body.query, body.filters, body.sort], sort_keys=True, default=str)
    matching = runtime(request).state.cached_search(caller.location.id, key, compute)
    if body.searchAfter is not None:
        rest = after_cursor(matching, body.sort, body.searchAfter)
    else:
        page_no = body.page or 1
        if page_no * body.pageLimit > _MAX_DEPTH:
            raise ApiError(
                400, "page * pageLimit cannot exceed 10000 records; use searchAfter instead"
            )
        rest = matching[(page_no - 1) * body.pageLimit :]
    items = [{**c, "searchAfter": sort_key_values(c, body.sort)} for c in rest[: body.pageLimit]]
    # Already JSON values: serialised directly (FastAPI's encoder costs more than the search).
    return _json_response({"contacts": items, "total": len(matching)})


@router.get("/contacts/search/duplicate")
async def duplicate_contact(caller: Reader, request: Request) -> dict[str, Any]:
    """`get-duplicate-contact`: `{contact}` (null when none), by the location's priority."""
    rt = runtime(request)
    params = request.query_params
    location_id = caller.queried_location(request)
    number = params.get("number")
    match = rt.state.find_contact(
        location_id,
        email=params.get("email") or None,
        phone=normalize_phone(number) if number else None,
    )
    return {"contact": contact_rest(match[0]) if match else None}


@router.get("/contacts/business/{businessId}")
async def contacts_by_business(businessId: str, caller: Reader, request: Request) -> dict[str, Any]:
    """`get-contacts-by-businessId`: `{contacts, count}` paged by `limit`/`skip`."""
    params = request.query_params
    caller.queried_location(request)
    limit = _int("limit", params.get("limit"), 25, low=1, high=100)
    skip = _int("skip", params.get("skip"), 0, low=0, high=None)
    matching = sorted(
        (contact_rest(c) for c in caller.location.contacts.values() if c.businessId == businessId),
        key=lambda c: (_ms_of(c), c["id"]),
    )
    matching = [c for c in matching if matches_query(c, params.get("query"))]
    return {"contacts": matching[skip : skip + limit], "count": len(matching)}
