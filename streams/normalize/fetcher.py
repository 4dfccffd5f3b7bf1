"""What normalize asks GHL, behind a small interface so tests can use a fake.

`GhlFetcher` is the interface; `ClientFetcher` adapts the real `services.ghl.GhlClient` (which
also speaks to the simulator through `httpx.ASGITransport`). Every method raises
`services.ghl.NotFound` for a record that is gone and other `services.ghl.GhlError`s as they come.

Snapshots are returned in the one canonical shape the poller and the backfill use too (see
`canonical`), so the same state read two ways gets the same event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from schemas import Appointment, Contact, Note, Task
from schemas.canonical import canonical_contact, canonical_task
from services.ghl import GhlClient, Priority
from services.ghl.requests import ContactSearch, SearchFilter, SearchSort, TaskSearch

__all__ = ["ClientFetcher", "GhlFetcher"]


class GhlFetcher(Protocol):
    """Reads of one location's records."""

    async def contact(self, location_id: str, contact_id: str) -> Contact:
        """The contact (`GET /contacts/{id}`)."""
        ...

    async def task(self, location_id: str, contact_id: str, task_id: str) -> Task:
        """One task of a contact."""
        ...

    async def find_task(self, location_id: str, task_id: str, *, hint: str | None) -> Task | None:
        """A task whose contact is unknown, through the location task search (`hint`: its
        title, to narrow the search); None when the search does not have it."""
        ...

    async def note(self, location_id: str, contact_id: str, note_id: str) -> Note:
        """One note of a contact."""
        ...

    async def appointments(self, location_id: str, contact_id: str) -> list[Appointment]:
        """The contact's appointments (`GET /contacts/{id}/appointments`)."""
        ...

    async def contacts_updated(
        self, location_id: str, since: datetime, until: datetime
    ) -> list[Contact]:
        """Every contact whose `dateUpdated` lies in [since, until] (the burst search)."""
        ...

    async def tasks_of(self, location_id: str, contact_ids: Sequence[str]) -> list[Task]:
        """Every task of these contacts (the location task search's `contactId` filter)."""
        ...

    async def notes_of(self, location_id: str, contact_id: str) -> list[Note]:
        """Every note of one contact (`GET /contacts/{id}/notes`)."""
        ...


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
