"""What normalize asks GHL, behind a small interface so tests can use a fake.

`GhlFetcher` is the interface; `ClientFetcher` adapts the real `services.ghl.GhlClient` (which
also speaks to the simulator through `httpx.ASGITransport`). Every method raises
`services.ghl.NotFound` for a record that is gone and other `services.ghl.GhlError`s as they come.

Snapshots are returned in the one canonical shape the poller and the backfill use too (see
`canonical`), so the same state read two ways gets the same event id.
"""

from __future__ import annotations

from typing import Protocol

from schemas import Appointment, Contact, Note, Task
from services.ghl import GhlClient, Priority
from services.ghl.requests import TaskSearch
from streams.normalize.canonical import canonical_contact, canonical_task

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


class ClientFetcher:
    """`GhlFetcher` on the GHL client, at the webhook-enrichment priority."""

    def __init__(self, client: GhlClient, *, priority: Priority = Priority.WEBHOOK_ENRICHMENT):
        self._client = client
        self._priority = priority

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
