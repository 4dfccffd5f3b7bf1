"""The activity generator: random changes, as GHL users and automations would make them.

Each step picks a location and one action (weights below) and applies it through the state's
methods, so every change sends the same webhook an API call would, blind spots included:
silent task edits (no webhook), partial note webhooks, TaskCreate sometimes lacking
`contactId`. Steps are deterministic for a given seed and state.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial

from services.simulator.seed import FIRST_NAMES, LAST_NAMES, NOTE_BODIES, TAGS, TASK_TITLES
from services.simulator.state import LocationData, SimulatorState

__all__ = ["ActivityGenerator"]

_log = logging.getLogger(__name__)


class ActivityGenerator:
    """Applies random changes to a state, one `step()` at a time."""

    def __init__(self, state: SimulatorState, *, seed: int = 0) -> None:
        self.state = state
        self.rng = random.Random(f"ghl-sync-simulator-activity:{seed}")
        self.steps = 0
        self._actions: list[tuple[Callable[[LocationData], str | None], int]] = [
            (self._create_contact, 10),
            (self._update_contact, 20),
            (self._delete_contact, 3),
            (self._tag_contact, 12),
            (self._create_task, 10),
            (self._complete_task, 6),
            (self._edit_task_silently, 8),
            (self._delete_task, 3),
            (self._create_note, 8),
            (self._update_note, 5),
            (self._delete_note, 2),
            (self._book_appointment, 5),
            (self._update_appointment, 4),
            (self._delete_appointment, 2),
        ]

    def step(self) -> str:
        """Apply one random change; returns what was done (for logs and the admin answer)."""
        self.steps += 1
        if not self.state.locations:
            return "noop: no locations"
        loc = self.state.locations[self.rng.choice(sorted(self.state.locations))]
        actions = [action for action, _ in self._actions]
        weights = [weight for _, weight in self._actions]
        for action in self.rng.choices(actions, weights=weights, k=4):
            done = action(loc)
            if done is not None:
                return done
        return self._create_contact(loc) or "noop"

    async def run(self, rate: float) -> None:
        """Step `rate` times per second until cancelled."""
        while True:
            await asyncio.sleep(1 / rate)
            try:
                self.step()
            except Exception:  # a generator bug must not kill the simulator
                _log.exception("activity step failed")

    def _pick(self, items: Mapping[str, object]) -> str | None:
        return self.rng.choice(sorted(items)) if items else None

    def _on_one(
        self, items: Mapping[str, object], done: str, change: Callable[[str], object]
    ) -> str | None:
        """`change` one random id of `items` (None when there is none); `done` with the id."""
        item_id = self._pick(items)
        if item_id is None:
            return None
        change(item_id)
        return done.format(item_id)

    def _create_contact(self, loc: LocationData) -> str | None:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        number = self.rng.randint(10_000, 99_999)
        contact = self.state.create_contact(
            loc.id,
            {
                "firstName": first,
                "lastName": last,
                "email": f"{first.lower()}.{last.lower()}.{number}@example.org",
                "phone": f"+1556{number:05d}{self.rng.randint(10, 99)}",
                "source": "activity generator",
                "tags": sorted(self.rng.sample(TAGS, self.rng.randint(0, 2))),
            },
        )
        return f"created contact {contact.id}"

    def _update_contact(self, loc: LocationData) -> str | None:
        contact_id = self._pick(loc.contacts)
        if contact_id is None:
            return None
        changes = self.rng.choice(
            (
                {"companyName": self.rng.choice(("Acme", "Globex", "Initech", "Umbrella"))},
                {"city": self.rng.choice(("Denver", "Miami", "Seattle"))},
                {"firstName": self.rng.choice(FIRST_NAMES)},
                {"dnd": self.rng.random() < 0.5},
                {"assignedTo": self.rng.choice(loc.users) if loc.users else None},
            )
        )
        self.state.update_contact(loc.id, contact_id, changes)
        return f"updated contact {contact_id}"

    def _delete_contact(self, loc: LocationData) -> str | None:
        contact_id = self._pick(loc.contacts)
        if contact_id is None or len(loc.contacts) < 3:
            return None
        self.state.delete_contact(loc.id, contact_id)
        return f"deleted contact {contact_id}"

    def _tag_contact(self, loc: LocationData) -> str | None:
        contact_id = self._pick(loc.contacts)
        if contact_id is None:
            return None
        tags = set(loc.contacts[contact_id].tags or [])
        tags ^= {self.rng.choice(TAGS)}
        self.state.update_contact(loc.id, contact_id, {"tags": sorted(tags)})
        return f"retagged contact {contact_id}"

    def _create_task(self, loc: LocationData) -> str | None:
        contact_id = self._pick(loc.contacts)
        if contact_id is None:
            return None
        task = self.state.create_task(
            loc.id,
            contact_id,
            {
                "title": self.rng.choice(TASK_TITLES),
                "body": "Generated task",
                "dueDate": self.state.now() + timedelta(days=self.rng.randint(1, 14)),
                "assignedTo": self.rng.choice(loc.users) if loc.users else None,
            },
        )
        return f"created task {task.id}"

    def _complete_task(self, loc: LocationData) -> str | None:
        open_tasks = {k: v for k, v in loc.tasks.items() if not v.completed}
        return self._on_one(
            open_tasks,
            "completed task {}",
            lambda task_id: self.state.update_task(loc.id, task_id, {"completed": True}),
        )

    def _edit_task_silently(self, loc: LocationData) -> str | None:
        def edit(task_id: str) -> None:
            title = f"{self.rng.choice(TASK_TITLES)} (edited)"
            self.state.update_task(loc.id, task_id, {"title": title})

        return self._on_one(loc.tasks, "edited task {} (no webhook)", edit)

    def _delete_task(self, loc: LocationData) -> str | None:
        return self._on_one(loc.tasks, "deleted task {}", partial(self.state.delete_task, loc.id))

    def _create_note(self, loc: LocationData) -> str | None:
        contact_id = self._pick(loc.contacts)
        if contact_id is None:
            return None
        note = self.state.create_note(
            loc.id,
            contact_id,
            {
                "body": self.rng.choice(NOTE_BODIES),
                "userId": self.rng.choice(loc.users) if loc.users else None,
            },
        )
        return f"created note {note.id}"

    def _update_note(self, loc: LocationData) -> str | None:
        def update(note_id: str) -> None:
            body = f"{self.rng.choice(NOTE_BODIES)} (updated)"
            self.state.update_note(loc.id, note_id, {"body": body})

        return self._on_one(loc.notes, "updated note {}", update)

    def _delete_note(self, loc: LocationData) -> str | None:
        return self._on_one(loc.notes, "deleted note {}", partial(self.state.delete_note, loc.id))

    def _book_appointment(self, loc: LocationData) -> str | None:
        contact_id = self._pick(loc.contacts)
        if contact_id is None or not loc.calendars:
            return None
        calendar_id = self.rng.choice(sorted(loc.calendars))
        start = (self.state.now() + timedelta(days=self.rng.randint(1, 30))).replace(
            minute=0, second=0, microsecond=0
        )
        user = self.rng.choice(loc.users) if loc.users else ""
        appt = self.state.create_appointment(loc.id, {
            "calendarId": calendar_id, "groupId": loc.calendars[calendar_id],
            "contactId": contact_id, "title": "Generated booking", "status": "booked",
            "appointmentStatus": "confirmed", "assignedUserId": user, "users": [user],
            "notes": "", "address": "", "source": "booking_widget",
            "startTime": start, "endTime": start + timedelta(minutes=30),
        })  # fmt: skip
        return f"booked appointment {appt.id}"

    def _update_appointment(self, loc: LocationData) -> str | None:
        def update(appt_id: str) -> None:
            status = self.rng.choice(("confirmed", "cancelled", "showed", "noshow"))
            self.state.update_appointment(loc.id, appt_id, {"appointmentStatus": status})

        return self._on_one(loc.appointments, "updated appointment {}", update)

    def _delete_appointment(self, loc: LocationData) -> str | None:
        delete = partial(self.state.delete_appointment, loc.id)
        return self._on_one(loc.appointments, "deleted appointment {}", delete)
