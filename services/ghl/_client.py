"""`GhlClient`: every operation as a typed method, pagination, and the `build_client` factory."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import TracebackType

import httpx

from schemas.ghl import Contact, Task
from services.ghl._activities import ActivitiesOps
from services.ghl._contacts import ContactsOps
from services.ghl._http import new_http_client
from services.ghl._locations import LocationsOps
from services.ghl._ratelimit import Priority, RateLimiter
from services.ghl.requests import ContactSearch, TaskSearch
from services.ghl.settings import GhlSettings
from services.ghl.tokens import TokenProvider

__all__ = ["GhlClient", "build_client", "supported_operations"]


class GhlClient(ContactsOps, ActivitiesOps, LocationsOps):
    """Async GHL API client. Every method takes the location it acts for first: the location
    selects the token and the request budget. Build it with `build_client`."""

    async def __aenter__(self) -> GhlClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def iter_contacts(
        self,
        location_id: str,
        *,
        query: str | None = None,
        page_size: int = 100,
        priority: Priority = Priority.POLL,
    ) -> AsyncIterator[Contact]:
        """Every contact via `GET /contacts/`, paged by `startAfter`/`startAfterId`."""
        start_after: int | None = None
        start_after_id: str | None = None
        while True:
            page = await self.list_contacts(
                location_id,
                limit=page_size,
                start_after=start_after,
                start_after_id=start_after_id,
                query=query,
                priority=priority,
            )
            for contact in page.contacts:
                yield contact
            if len(page.contacts) < page_size:
                return
            cursor: tuple[int | None, str | None]
            if page.meta is not None and page.meta.startAfterId:
                cursor = (page.meta.startAfter, page.meta.startAfterId)
            else:
                last = page.contacts[-1]
                added = last.dateAdded
                cursor = (int(added.timestamp() * 1000) if added else None, last.id)
            if cursor == (start_after, start_after_id):
                return  # GHL handed back the same cursor: stop rather than loop forever
            start_after, start_after_id = cursor

    async def iter_search_contacts(
        self,
        location_id: str,
        search: ContactSearch | None = None,
        *,
        priority: Priority = Priority.POLL,
    ) -> AsyncIterator[Contact]:
        """Every hit of `POST /contacts/search`, following the `searchAfter` cursor of the last
        hit (or page numbers when GHL gives no cursor)."""
        current = search or ContactSearch()
        while True:
            page = await self.search_contacts(location_id, current, priority=priority)
            for contact in page.contacts:
                yield contact
            if len(page.contacts) < current.pageLimit or not page.contacts:
                return
            extra = page.contacts[-1].model_extra or {}
            cursor = extra.get("searchAfter")
            if isinstance(cursor, list) and cursor:
                if cursor == current.searchAfter:
                    return
                current = current.model_copy(update={"searchAfter": cursor, "page": None})
            else:
                current = current.model_copy(update={"page": (current.page or 1) + 1})

    async def iter_tasks(
        self,
        location_id: str,
        search: TaskSearch | None = None,
        *,
        priority: Priority = Priority.POLL,
    ) -> AsyncIterator[Task]:
        """Every task of the location matching `search`, paged by `skip`/`limit`."""
        current = search or TaskSearch()
        while True:
            tasks = await self.search_tasks(location_id, current, priority=priority)
            for task in tasks:
                yield task
            if len(tasks) < current.limit:
                return
            current = current.model_copy(update={"skip": current.skip + len(tasks)})


def supported_operations() -> dict[str, str]:
    """GHL operationId -> the `GhlClient` method implementing it."""
    found: dict[str, str] = {}
    for name, member in inspect.getmembers(GhlClient, inspect.isfunction):
        operation_id = getattr(member, "__ghl_operation__", None)
        if isinstance(operation_id, str):
            found[operation_id] = name
    return found


def build_client(
    settings: GhlSettings,
    *,
    token_provider: TokenProvider,
    rate_limiter: RateLimiter,
    transport: httpx.AsyncBaseTransport | None = None,
) -> GhlClient:
    """The GHL client: `transport=` replaces the network (`httpx.MockTransport`,
    `httpx.ASGITransport` around the simulator)."""
    return GhlClient(
        http=new_http_client(settings, transport=transport),
        settings=settings,
        token_provider=token_provider,
        rate_limiter=rate_limiter,
    )
