"""A location's appointments through the calendars API: `GET /calendars/` of the location,
then `GET /calendars/events` per calendar over a time window (appointments starting in it).

A few requests per location instead of one per contact; shared by the poller's sweep and the
backfill. GHL documents no paging on `GET /calendars/events`; the window is read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.ghl import Appointment
from services.ghl import GhlClient, Priority

__all__ = ["Appointments", "read_appointments"]


@dataclass(frozen=True, slots=True)
class Appointments:
    """What one sweep found: the appointments with a contact, and how many calendars."""

    appointments: list[Appointment]
    calendars: int


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
                found[appointment.id] = appointment
    return Appointments(sorted(found.values(), key=lambda a: a.id), len(calendars))
