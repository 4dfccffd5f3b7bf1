"""Calendars and appointments: the contact route (`apps/contacts.json`) and the calendar API
(`apps/calendars.json`, `Version: 2021-04-15`).

`GET /calendars/` (`get-calendars`, scope `calendars.readonly`) lists the location's calendars
as `CalendarDTO`s (`id`, `locationId`, `groupId`, `name`, `isActive`, `calendarType`, ...),
ordered by name then id; `groupId` narrows to one group; `showDrafted` is accepted (every
simulated calendar is active). A seeded location has four calendars in three groups.

As the spec says: create and edit answer 200 `AppointmentSchemaResponse` (no `dateAdded`/
`dateUpdated`, ISSUES #246), `DELETE /calendars/events/{eventId}` answers 201
`{succeeded: true}` (spelled right here). `GET /calendars/events` needs `locationId`,
`startTime`, `endTime` (epoch ms) and one of `calendarId`, `userId`, `groupId` (400 otherwise);
it returns appointments whose start lies in [startTime, endTime] (UNCONFIRMED: whether GHL
also returns events that only overlap the window; start-in-window partitions a sweep cleanly),
ordered by start then id, all in one answer (GHL documents no paging here). Several selectors
narrow together. A window that ends before it starts answers 400. An unknown `calendarId` on
create answers 400 `Calendar not found` (UNCONFIRMED message). `endTime` defaults to 30 minutes
after `startTime`; `groupId` is the calendar's group; `assignedUserId` defaults to the
location's first user.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from schemas import parse_ghl_time
from schemas.ghl import Appointment
from services.simulator._errors import ApiError
from services.simulator._lookup import appointment_for, contact_for
from services.simulator.auth import CALENDARS_VERSION, Caller, guard
from services.simulator.auth import ContactsReader as ContactReader
from services.simulator.dto import AppointmentCreateIn, AppointmentEditIn, read_body
from services.simulator.render import appointment_rest
from services.simulator.runtime import runtime
from services.simulator.state import LocationData

__all__ = ["router"]

router = APIRouter()
EventReader = Annotated[Caller, Depends(guard("calendars/events.readonly", CALENDARS_VERSION))]
CalendarReader = Annotated[Caller, Depends(guard("calendars.readonly", CALENDARS_VERSION))]
EventWriter = Annotated[Caller, Depends(guard("calendars/events.write", CALENDARS_VERSION))]
_RESPONSE_KEYS = (
    "calendarId", "locationId", "contactId", "startTime", "endTime", "title",
    "meetingLocationType", "appointmentStatus", "assignedUserId", "address", "isRecurring",
    "rrule", "id",
)  # fmt: skip


def _time(name: str, value: str) -> Any:
    try:
        return parse_ghl_time(value)
    except ValueError as exc:
        raise ApiError(400, f"{name} is not a valid date") from exc


def _schema_response(appt: Appointment) -> dict[str, Any]:
    full = appointment_rest(appt)
    return {k: full[k] for k in _RESPONSE_KEYS if k in full}


def _fields(caller: Caller, body: AppointmentEditIn, current: Appointment | None) -> dict[str, Any]:
    fields = body.model_dump(
        exclude_unset=True,
        exclude={"locationId", "overrideLocationConfig", "ignoreDateRange", "toNotify",
                 "ignoreFreeSlotValidation", "meetingLocationId"},
    )  # fmt: skip
    loc = caller.location
    calendar_id = fields.get("calendarId")
    if calendar_id is not None:
        if calendar_id not in loc.calendars:
            raise ApiError(400, "Calendar not found")
        fields["groupId"] = loc.calendars[calendar_id]
    if "startTime" in fields:
        fields["startTime"] = _time("startTime", fields["startTime"])
        if "endTime" not in fields and current is None:
            fields["endTime"] = fields["startTime"] + timedelta(minutes=30)
    if fields.get("endTime") is not None and not hasattr(fields["endTime"], "tzinfo"):
        fields["endTime"] = _time("endTime", fields["endTime"])
    if "rrule" in fields:
        fields["isRecurring"] = bool(fields["rrule"])
    if "assignedUserId" in fields:
        fields["users"] = [fields["assignedUserId"]] if fields["assignedUserId"] else []
    return fields


@router.get("/contacts/{contactId}/appointments")
async def contact_appointments(
    contactId: str, caller: ContactReader, request: Request
) -> dict[str, Any]:
    """`get-appointments-for-contact`: `{events: [GetEventSchema]}`."""
    contact_for(runtime(request).state, caller, contactId)
    events = [a for a in caller.location.appointments.values() if a.contactId == contactId]
    return {"events": [appointment_rest(a, full=False) for a in events]}


@router.get("/calendars/")
@router.get("/calendars", include_in_schema=False)
async def list_calendars(caller: CalendarReader, request: Request) -> dict[str, Any]:
    """`get-calendars`: `{calendars: [CalendarDTO]}` of one location."""
    params = request.query_params
    caller.queried_location(request)
    show_drafted = params.get("showDrafted", "true").lower()
    if show_drafted not in ("true", "false"):
        raise ApiError(422, ["showDrafted must be a boolean value"])
    loc = caller.location
    group = params.get("groupId")
    calendars = [
        _calendar(loc, calendar_id)
        for calendar_id, group_id in loc.calendars.items()
        if not group or group_id == group
    ]
    calendars.sort(key=lambda c: (c["name"], c["id"]))
    return {"calendars": calendars}


def _calendar(loc: LocationData, calendar_id: str) -> dict[str, Any]:
    name = loc.calendar_names.get(calendar_id, calendar_id)
    slug = "-".join(name.lower().split())
    return {
        "id": calendar_id,
        "locationId": loc.id,
        "groupId": loc.calendars[calendar_id],
        "name": name,
        "description": "",
        "slug": slug,
        "widgetSlug": slug,
        "calendarType": "round_robin",
        "widgetType": "classic",
        "eventType": "RoundRobin_OptimizeForAvailability",
        "eventTitle": "{{contact.name}}",
        "eventColor": "#039be5",
        "teamMembers": [{"userId": user, "priority": 0.5} for user in loc.users],
        "slotDuration": 30,
        "slotDurationUnit": "mins",
        "slotInterval": 30,
        "slotIntervalUnit": "mins",
        "appoinmentPerSlot": 1,
        "autoConfirm": True,
        "allowReschedule": True,
        "allowCancellation": True,
        "isActive": True,
    }


@router.get("/calendars/events/appointments/{eventId}")
async def get_appointment(eventId: str, caller: EventReader, request: Request) -> dict[str, Any]:
    """`get-appointment`: `{event: CalendarEventDTO}`."""
    return {"event": appointment_rest(appointment_for(runtime(request).state, caller, eventId))}


@router.get("/calendars/events")
async def list_events(caller: EventReader, request: Request) -> dict[str, Any]:
    """`get-calendar-events`: appointments starting within [startTime, endTime]."""
    params = request.query_params
    location_id, start, end = (params.get(k) for k in ("locationId", "startTime", "endTime"))
    if not location_id or not start or not end:
        raise ApiError(400, "locationId, startTime and endTime are required")
    caller.check_location(location_id)
    selectors = {k: params.get(k) for k in ("calendarId", "userId", "groupId") if params.get(k)}
    if not selectors:
        raise ApiError(400, "One of calendarId, userId or groupId is required")
    low, high = _time("startTime", start), _time("endTime", end)
    if high < low:
        raise ApiError(400, "endTime must not be before startTime")
    events = [
        a
        for a in caller.location.appointments.values()
        if a.startTime is not None
        and low <= a.startTime <= high
        and all(
            (a.calendarId == v)
            if k == "calendarId"
            else (a.groupId == v)
            if k == "groupId"
            else (v in (a.users or []) or a.assignedUserId == v)
            for k, v in selectors.items()
        )
    ]
    events.sort(key=lambda a: (a.startTime, a.id))
    return {"events": [appointment_rest(a) for a in events]}


@router.post("/calendars/events/appointments")
async def create_appointment(caller: EventWriter, request: Request) -> dict[str, Any]:
    """`create-appointment`: 200 `AppointmentSchemaResponse`."""
    rt = runtime(request)
    body = await read_body(request, AppointmentCreateIn)
    caller.check_location(body.locationId)
    contact_for(rt.state, caller, body.contactId)
    fields = {
        "title": "",
        "appointmentStatus": "new",
        "status": "booked",
        "assignedUserId": caller.location.users[0] if caller.location.users else "",
        "notes": "",
        "source": "third_party",
        "meetingLocationType": "default",
        "isRecurring": False,
        **_fields(caller, body, None),
    }
    fields.setdefault("users", [fields["assignedUserId"]] if fields["assignedUserId"] else [])
    appt = rt.state.create_appointment(caller.location.id, fields)
    rt.faults.after_create()
    return _schema_response(appt)


@router.put("/calendars/events/appointments/{eventId}")
async def edit_appointment(eventId: str, caller: EventWriter, request: Request) -> dict[str, Any]:
    """`edit-appointment`: 200 `AppointmentSchemaResponse`."""
    rt = runtime(request)
    current = appointment_for(rt.state, caller, eventId)
    body = await read_body(request, AppointmentEditIn)
    appt = rt.state.update_appointment(caller.location.id, eventId, _fields(caller, body, current))
    return _schema_response(appt)


@router.delete("/calendars/events/{eventId}")
async def delete_event(eventId: str, caller: EventWriter, request: Request) -> JSONResponse:
    """`delete-event`: 201 `{succeeded: true}` (as the spec says)."""
    rt = runtime(request)
    appointment_for(rt.state, caller, eventId)
    rt.state.delete_appointment(caller.location.id, eventId)
    return JSONResponse({"succeeded": True}, status_code=201)
