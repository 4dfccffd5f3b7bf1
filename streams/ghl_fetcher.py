"""The GHL side of normalize, built by the entry point (`streams.worker`) and passed in.

`ClientFetcher` adapts the real `services.ghl.GhlClient` (which also speaks to the simulator
through `httpx.ASGITransport`) to `streams.normalize.GhlFetcher`; `default_fetcher_factory`
reads `GhlSettings` from the environment and builds the client with PostgreSQL-backed tokens
and rate limits. This module sits in the entry-point layer: `streams.normalize` never imports
`services.ghl`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from schemas import Appointment, Contact, Note, Task
from schemas.canonical import canonical_contact, canonical_task
from services.ghl import GhlClient, Priority
from services.ghl.requests import ContactSearch, SearchFilter, SearchSort, TaskSearch
from services.platform.pools import open_pool
from streams.normalize import FetcherFactory, GhlFetcher
from streams.settings import StreamsSettings

__all__ = ["ClientFetcher", "default_fetcher_factory"]


class ClientFetcher:
    """`GhlFetcher` on the GHL client, at the webhook-enrichment priority."""

    def __init__(
        self,
        client: GhlClient,
        *,
        priority: Priority = Priority.WEBHOOK_ENRICHMENT,
        search_page: int = 500,
    ):
        self._client = client
        self._priority = priority
        self._search_page = search_page

    async def contact(self, location_id: str, contact_id: str) -> Contact:
        """`GET /contacts/{id}`."""
        found = await self._client.get_contact(location_id, contact_id, priority=self._priority)
        return canonical_contact(found)

    async def task(self, location_id: str, contact_id: str, task_id: str) -> Task:
        """`GET /contacts/{contactId}/tasks/{taskId}`."""
        found = await self._client.get_task(
            location_id, contact_id, task_id, priority=self._priority
        )
        return canonical_task(found)

    async def find_task(self, location_id: str, task_id: str, *, hint: str | None) -> Task | None:
        """Pages through the location task search (narrowed by the title) for the id."""
        search = TaskSearch(query=hint or None, limit=100)
        async for task in self._client.iter_tasks(location_id, search, priority=self._priority):
            if task.id == task_id:
                return canonical_task(task)
        return None

    async def note(self, location_id: str, contact_id: str, note_id: str) -> Note:
        """`GET /contacts/{contactId}/notes/{id}`."""
        return await self._client.get_note(
            location_id, contact_id, note_id, priority=self._priority
        )

    async def appointments(self, location_id: str, contact_id: str) -> list[Appointment]:
        """`GET /contacts/{contactId}/appointments`."""
        return await self._client.list_contact_appointments(
            location_id, contact_id, priority=self._priority
        )

    async def contacts_updated(
        self, location_id: str, since: datetime, until: datetime
    ) -> list[Contact]:
        """`POST /contacts/search` on a `dateUpdated` range, ascending, 500 a page."""
        window = {"gte": since.isoformat(), "lte": until.isoformat()}
        search = ContactSearch(
            pageLimit=self._search_page,
            filters=[SearchFilter(field="dateUpdated", operator="range", value=window)],
            sort=[SearchSort(field="dateUpdated", direction="asc")],
        )
        return [
            canonical_contact(c)
            async for c in self._client.iter_search_contacts(
                location_id, search, priority=self._priority
            )
        ]

    async def tasks_of(self, location_id: str, contact_ids: Sequence[str]) -> list[Task]:
        """`POST /locations/{id}/tasks/search` with the `contactId` filter, 100 a page."""
        search = TaskSearch(contactId=list(contact_ids), limit=100)
        return [
            canonical_task(t)
            async for t in self._client.iter_tasks(location_id, search, priority=self._priority)
        ]

    async def notes_of(self, location_id: str, contact_id: str) -> list[Note]:
        """`GET /contacts/{contactId}/notes`."""
        return await self._client.list_notes(location_id, contact_id, priority=self._priority)


def default_fetcher_factory(settings: StreamsSettings) -> FetcherFactory:
    """Opens a `ClientFetcher` on a GHL client from `GhlSettings()` (the environment)."""

    @contextlib.asynccontextmanager
    async def open_fetcher() -> AsyncIterator[GhlFetcher]:

        from services.ghl import GhlSettings, build_client, build_rate_limiter, build_token_provider

        ghl = GhlSettings()
        # No floor (open_pool's default): asyncpg would restore one during a PostgreSQL
        # outage, logging a traceback per try (about 160 lines in a 30 s outage).
        pool = await open_pool(settings.database_url, schema=settings.database_schema, max_size=4)
        try:
            client = build_client(
                ghl,
                token_provider=build_token_provider(ghl, pool=pool),
                rate_limiter=build_rate_limiter(ghl, pool=pool),
            )
            async with client:
                yield ClientFetcher(client)
        finally:
            await pool.close()

    return open_fetcher
