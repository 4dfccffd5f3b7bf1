"""A location's appointments through the calendars API: `GET /calendars/` of the location,
then `GET /calendars/events` per calendar over a time window (appointments starting in it).

A few requests per location instead of one per contact; shared by the poller's sweep and the
backfill. GHL documents no paging on `GET /calendars/events`; the window is read whole.

Event ids digest the payload, and the rest of ghl-sync takes appointments in the contact
route's shape (`GetEventSchema`, see `schemas.canonical`), so what the calendars API answers
(`CalendarEventDTO`: more fields) is cut down to that shape: the same appointment read either
way yields the same event. (GHL's `CalendarEventDTO` has no `status`; where GHL leaves it out,
the two reads differ in that one field: UNCONFIRMED against real GHL.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.ghl import Appointment
from services.ghl import GhlClient, Priority

__all__ = ["EVENT_FIELDS", "Appointments", "Window", "as_contact_route", "read_appointments"]

EVENT_FIELDS = frozenset(
    {
        "id", "calendarId", "status", "title", "assignedUserId", "notes", "startTime",
        "endTime", "address", "locationId", "contactId", "groupId", "appointmentStatus",
        "users", "dateAdded", "dateUpdated", "assignedResources",
    }
)  # fmt: skip
"""The properties of `GetEventSchema` (`apps/contacts.json`)."""


def as_contact_route(appointment: Appointment) -> Appointment:
    """The appointment as `GET /contacts/{id}/appointments` gives it."""
    data = appointment.model_dump(mode="json", exclude_none=True)
    return Appointment.model_validate({k: v for k, v in data.items() if k in EVENT_FIELDS})


@dataclass(frozen=True, slots=True)
class Appointments:
    """What one sweep found: the appointments with a contact, and how many calendars."""

    appointments: list[Appointment]
    calendars: int


@dataclass(frozen=True, slots=True)
class Window:
    """How many days before and after now appointments are read (by their start)."""

    past_days: float
    future_days: float

    def around(self, now: datetime) -> tuple[datetime, datetime]:
        """`(low, high)`: the window around `now`."""
        return now - timedelta(days=self.past_days), now + timedelta(days=self.future_days)


async def read_appointments(
    client: GhlClient, location_id: str, low: datetime, high: datetime, priority: Priority
) -> Appointments:
    """Every appointment of the location starting in `[low, high]` that has a contact."""
    calendars = await client.list_calendars(location_id, priority=priority)
    found: dict[str, Appointment] = {}
    for calendar in calendars:
        for appointment in await client.list_calendar_events(
            location_id, start_time=low, end_time=high, calendar_id=calendar.id,
            priority=priority,
        ):  # fmt: skip
            if appointment.contactId:
                found[appointment.id] = as_contact_route(appointment)
    return Appointments(sorted(found.values(), key=lambda a: a.id), len(calendars))
