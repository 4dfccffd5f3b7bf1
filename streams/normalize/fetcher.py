"""What normalize asks GHL, behind a small interface so tests can use a fake.

`GhlFetcher` is the interface; normalize never builds one. The entry point
(`streams.ghl_fetcher.ClientFetcher`, built by `streams.worker`) adapts the real GHL client.
Every method raises `schemas.NotFound` for a record that is gone and other `schemas.GhlError`s
as they come.

Snapshots are returned in the one canonical shape the poller and the backfill use too (see
`schemas.canonical`), so the same state read two ways gets the same event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from schemas import Appointment, Contact, Note, Task

__all__ = ["GhlFetcher"]


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
