"""Tasks and notes of a contact, and the location-wide task search.

- Create answers 201; update, completion and delete 200 (`{succeded: true}` for delete).
- Only a completion (via `/completed` or an update setting `completed: true`) emits a webhook
  (`TaskComplete`); other task edits are silent, as in GHL.
- `dueDate` is accepted as ISO time or epoch ms and answered as ISO UTC with milliseconds.
- Task search (`POST /locations/{locationId}/tasks/search`, scope `locations/tasks.readonly`)
  answers `{tasks: [TaskSchema...]}` ordered by creation time then id, paged by `skip`/`limit`
  (limit at most 100, UNCONFIRMED). The spec's item schema (`items: {type: array}`) is an
  evident spec error; items here are task objects with the REST task fields plus `locationId`
  (UNCONFIRMED: GHL's real items carry more).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from schemas import parse_ghl_time
from services.simulator._errors import ApiError
from services.simulator._lookup import contact_for, note_for, task_for
from services.simulator.auth import CONTACTS_VERSION, Caller, guard
from services.simulator.auth import ContactsReader as Reader
from services.simulator.auth import ContactsWriter as Writer
from services.simulator.dto import (
    NoteIn,
    NoteUpdateIn,
    TaskCompletedIn,
    TaskIn,
    TaskSearchIn,
    TaskUpdateIn,
    read_body,
)
from services.simulator.render import note_rest, task_rest
from services.simulator.runtime import runtime

__all__ = ["router"]

router = APIRouter()
TaskReader = Annotated[Caller, Depends(guard("locations/tasks.readonly", CONTACTS_VERSION))]


def _due(value: str) -> Any:
    try:
        return parse_ghl_time(value)
    except ValueError as exc:
        raise ApiError(422, ["dueDate must be a valid ISO 8601 date string"]) from exc


def _task_fields(body: TaskIn | TaskUpdateIn) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("dueDate") is not None:
        fields["dueDate"] = _due(fields["dueDate"])
    return fields


@router.get("/contacts/{contactId}/tasks")
async def list_tasks(contactId: str, caller: Reader, request: Request) -> dict[str, Any]:
    """`get-all-tasks`."""
    contact_for(runtime(request).state, caller, contactId)
    tasks = [t for t in caller.location.tasks.values() if t.contactId == contactId]
    return {"tasks": [task_rest(t) for t in tasks]}


@router.get("/contacts/{contactId}/tasks/{taskId}")
async def get_task(contactId: str, taskId: str, caller: Reader, request: Request) -> dict[str, Any]:
    """`get-task`."""
    return {"task": task_rest(task_for(runtime(request).state, caller, contactId, taskId))}


@router.post("/contacts/{contactId}/tasks")
async def create_task(contactId: str, caller: Writer, request: Request) -> JSONResponse:
    """`create-task`: 201 `{task}`."""
    rt = runtime(request)
    contact_for(rt.state, caller, contactId)
    body = await read_body(request, TaskIn)
    task = rt.state.create_task(caller.location.id, contactId, _task_fields(body))
    rt.faults.after_create()
    return JSONResponse({"task": task_rest(task)}, status_code=201)


@router.put("/contacts/{contactId}/tasks/{taskId}")
async def update_task(
    contactId: str, taskId: str, caller: Writer, request: Request
) -> dict[str, Any]:
    """`update-task` (silent unless it completes the task)."""
    rt = runtime(request)
    task_for(rt.state, caller, contactId, taskId)
    body = await read_body(request, TaskUpdateIn)
    task = rt.state.update_task(caller.location.id, taskId, _task_fields(body))
    return {"task": task_rest(task)}


@router.put("/contacts/{contactId}/tasks/{taskId}/completed")
async def complete_task(
    contactId: str, taskId: str, caller: Writer, request: Request
) -> dict[str, Any]:
    """`update-task-completed`."""
    rt = runtime(request)
    task_for(rt.state, caller, contactId, taskId)
    body = await read_body(request, TaskCompletedIn)
    task = rt.state.update_task(caller.location.id, taskId, {"completed": body.completed})
    return {"task": task_rest(task)}


@router.delete("/contacts/{contactId}/tasks/{taskId}")
async def delete_task(
    contactId: str, taskId: str, caller: Writer, request: Request
) -> dict[str, Any]:
    """`delete-task`."""
    rt = runtime(request)
    task_for(rt.state, caller, contactId, taskId)
    rt.state.delete_task(caller.location.id, taskId)
    return {"succeded": True}


@router.post("/locations/{locationId}/tasks/search")
async def search_tasks(locationId: str, caller: TaskReader, request: Request) -> dict[str, Any]:
    """`task-search`."""
    caller.check_location(locationId)
    body = await read_body(request, TaskSearchIn, optional=True)
    loc = caller.location
    business = (
        {c.id for c in loc.contacts.values() if c.businessId == body.businessId}
        if body.businessId
        else None
    )
    needle = (body.query or "").lower()
    tasks = [
        t
        for t in loc.tasks.values()
        if (body.contactId is None or t.contactId in body.contactId)
        and (body.completed is None or bool(t.completed) == body.completed)
        and (body.assignedTo is None or t.assignedTo in body.assignedTo)
        and (business is None or t.contactId in business)
        and (not needle or needle in f"{t.title or ''} {t.body or ''}".lower())
    ]
    tasks.sort(key=lambda t: (t.dateAdded.timestamp() if t.dateAdded else 0.0, t.id))
    page = tasks[body.skip : body.skip + body.limit]
    return {"tasks": [{**task_rest(t), "locationId": loc.id} for t in page]}


@router.get("/contacts/{contactId}/notes")
async def list_notes(contactId: str, caller: Reader, request: Request) -> dict[str, Any]:
    """`get-all-notes`."""
    contact_for(runtime(request).state, caller, contactId)
    notes = [n for n in caller.location.notes.values() if n.contactId == contactId]
    return {"notes": [note_rest(n) for n in notes]}


@router.get("/contacts/{contactId}/notes/{id}")
async def get_note(contactId: str, id: str, caller: Reader, request: Request) -> dict[str, Any]:
    """`get-note`."""
    return {"note": note_rest(note_for(runtime(request).state, caller, contactId, id))}


@router.post("/contacts/{contactId}/notes")
async def create_note(contactId: str, caller: Writer, request: Request) -> JSONResponse:
    """`create-note`: 201 `{note}`."""
    rt = runtime(request)
    contact_for(rt.state, caller, contactId)
    body = await read_body(request, NoteIn)
    note = rt.state.create_note(caller.location.id, contactId, body.model_dump(exclude_unset=True))
    rt.faults.after_create()
    return JSONResponse({"note": note_rest(note)}, status_code=201)


@router.put("/contacts/{contactId}/notes/{id}")
async def update_note(contactId: str, id: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`update-note`."""
    rt = runtime(request)
    note_for(rt.state, caller, contactId, id)
    body = await read_body(request, NoteUpdateIn)
    note = rt.state.update_note(caller.location.id, id, body.model_dump(exclude_unset=True))
    return {"note": note_rest(note)}


@router.delete("/contacts/{contactId}/notes/{id}")
async def delete_note(contactId: str, id: str, caller: Writer, request: Request) -> dict[str, Any]:
    """`delete-note`."""
    rt = runtime(request)
    note_for(rt.state, caller, contactId, id)
    rt.state.delete_note(caller.location.id, id)
    return {"succeded": True}
