"""History routes: a contact's changes (`GET /v1/contacts/{id}/history`) and the unified view
as it was at a time (`GET /v1/contacts/{id}?as_of=TIME`), read from the history projection.

`register_history_routes` adds the history route to the app; `contact_view_as_of` answers the
`as_of` form of the contact route (the route itself is the app's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import FastAPI, Query
from fastapi.params import Depends
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse, Response

from streams.history.store import HistoryCursorError, entry_json, read_history, read_view_as_of

__all__ = [
    "FieldChange",
    "HistoryEntry",
    "HistoryPage",
    "contact_view_as_of",
    "register_history_routes",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class FieldChange(_Out):
    """One field of the entity: its value before and after (null: absent)."""

    field: str
    """The field's name; nested objects as dotted keys, custom fields as `customFields.<id>`."""
    old: Any = None
    new: Any = None


class HistoryEntry(_Out):
    """One change of the contact or of one of its tasks, notes or appointments."""

    at: datetime
    """Where the entry stands in history: GHL's `dateUpdated` of the snapshot, else when we
    observed it."""
    occurred_at: datetime | None = None
    """GHL's time of the change, when GHL gives one."""
    observed_at: datetime
    """When ghl-sync read the change."""
    source: Literal["webhook", "poll", "backfill", "reconcile", "writer"]
    """How ghl-sync learnt it; `writer`: a change APPNAME made through ghl-sync."""
    event_id: str
    event_type: str
    entity_type: Literal["contact", "task", "note", "appointment"]
    entity_id: str
    action: Literal["created", "updated", "deleted"]
    changes: list[FieldChange]


class HistoryPage(_Out):
    """A page of entries, oldest first; pass `next_cursor` as `cursor` for the next."""

    location_id: str | None
    entries: list[HistoryEntry]
    next_cursor: str | None = None


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def contact_view_as_of(
    pool: asyncpg.Pool, contact_id: str, location_id: str | None, when: datetime
) -> dict[str, Any] | None:
    """The unified contact view as it was at `when`; None if the contact did not exist then
    (or was deleted)."""
    return await read_view_as_of(pool, contact_id, when, location_id=location_id)


def register_history_routes(
    app: FastAPI,
    *,
    pool: Callable[[], asyncpg.Pool | None],
    unavailable: Callable[[], Response | None],
    dependencies: Sequence[Depends],
    responses: dict[int | str, dict[str, Any]],
    max_page_size: int,
) -> None:
    """Add `GET /v1/contacts/{contact_id}/history` to `app`."""

    @app.get(
        "/v1/contacts/{contact_id}/history",
        response_model=HistoryPage,
        dependencies=list(dependencies),
        responses=responses,
    )
    async def contact_history(
        contact_id: str,
        location_id: Annotated[str | None, Query()] = None,
        since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
        until: Annotated[datetime | None, Query(description="Before this time.")] = None,
        entity: Annotated[
            list[Literal["contact", "task", "note", "appointment"]] | None,
            Query(description="Only entries of these entity types (repeat the parameter)."),
        ] = None,
        field: Annotated[
            list[str] | None,
            Query(description="Only entries changing one of these fields (repeat it)."),
        ] = None,
        limit: Annotated[int, Query(ge=1)] = 100,
        cursor: Annotated[str | None, Query()] = None,
    ) -> Any:
        """The contact's changes and its children's, oldest first, field by field."""
        refusal = unavailable()
        if refusal is not None:
            return refusal
        conn = pool()
        assert conn is not None
        if limit > max_page_size:
            return _problem(422, "invalid_query", f"limit: at most {max_page_size}")
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                return _problem(422, "invalid_query", f"{name}: needs a time zone (e.g. Z)")
        try:
            page = await read_history(
                conn,
                contact_id,
                location_id=location_id,
                since=since,
                until=until,
                entity_types=entity or (),
                fields=field or (),
                limit=limit,
                cursor=cursor,
            )
        except HistoryCursorError as exc:
            return _problem(422, "invalid_query", f"cursor: {exc}")
        if page.location_id is None:
            return _problem(404, "not_found", f"no history of a contact with id {contact_id!r}")
        return {
            "location_id": page.location_id,
            "entries": [entry_json(e) for e in page.entries],
            "next_cursor": page.next_cursor,
        }
