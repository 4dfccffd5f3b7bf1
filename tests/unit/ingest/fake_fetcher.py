"""`FakeFetcher`: normalize's GHL reads answered from dicts the test fills, each read logged."""

from __future__ import annotations

from schemas import Appointment, Contact, Note, Task
from services.ghl import NotFound

__all__ = ["FakeFetcher"]


class FakeFetcher:
    """The single reads of a `GhlFetcher` on what the test put in `contacts`, `tasks`, `notes`
    and `appts`; a missing entity is `NotFound`. `calls` lists the reads in order."""

    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.tasks: dict[str, Task] = {}
        self.notes: dict[str, Note] = {}
        self.appts: dict[str, Appointment] = {}
        self.calls: list[str] = []

    async def contact(self, location_id: str, contact_id: str) -> Contact:
        self.calls.append(f"contact {contact_id}")
        if contact_id not in self.contacts:
            raise NotFound("gone")
        return self.contacts[contact_id]

    async def task(self, location_id: str, contact_id: str, task_id: str) -> Task:
        self.calls.append(f"task {task_id}")
        if task_id not in self.tasks:
            raise NotFound("gone")
        return self.tasks[task_id]

    async def find_task(self, location_id: str, task_id: str, *, hint: str | None) -> Task | None:
        self.calls.append(f"find {task_id} {hint}")
        return self.tasks.get(task_id)

    async def note(self, location_id: str, contact_id: str, note_id: str) -> Note:
        self.calls.append(f"note {note_id}")
        if note_id not in self.notes:
            raise NotFound("gone")
        return self.notes[note_id]

    async def appointments(self, location_id: str, contact_id: str) -> list[Appointment]:
        self.calls.append(f"appointments {contact_id}")
        return [a for a in self.appts.values() if a.contactId == contact_id]
