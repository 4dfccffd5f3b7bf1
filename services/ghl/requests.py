"""Request bodies of the GHL operations; the models live in `schemas.commands.requests`.

They are pure contracts, so APPNAME's command payloads in `schemas` can be built on them; this
module keeps the client's import path.
"""

from __future__ import annotations

from schemas.commands.requests import (
    AppointmentCreate,
    AppointmentUpdate,
    ContactCreate,
    ContactSearch,
    ContactUpdate,
    ContactUpsert,
    CustomFieldInput,
    NoteCreate,
    NoteUpdate,
    SearchFilter,
    SearchFilterGroup,
    SearchSort,
    TaskCreate,
    TaskSearch,
    TaskUpdate,
)

__all__ = [
    "AppointmentCreate",
    "AppointmentUpdate",
    "ContactCreate",
    "ContactSearch",
    "ContactUpdate",
    "ContactUpsert",
    "CustomFieldInput",
    "NoteCreate",
    "NoteUpdate",
    "SearchFilter",
    "SearchFilterGroup",
    "SearchSort",
    "TaskCreate",
    "TaskSearch",
    "TaskUpdate",
]
