"""The GHL operations the client knows: method, path, spec file, scope, version and safety.

One table, read by the client (to build requests and decide whether a retry is safe) and by
the catalog. Paths are the spec's, with `{name}` placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["CALENDARS_VERSION", "DEFAULT_VERSION", "OPERATIONS", "Operation", "Safety"]

DEFAULT_VERSION = "2021-07-28"
CALENDARS_VERSION = "2021-04-15"


class Safety(Enum):
    """Whether repeating an operation whose answer was lost can change the outcome."""

    IDEMPOTENT = "idempotent"
    """Reads, PUT, DELETE and POSTs that set state (search, tag add, upsert): retried freely."""
    NOT_IDEMPOTENT = "not_idempotent"
    """Creates and triggers (contact, task, note, appointment, campaign, workflow): never retried
    once they may have reached GHL; a lost answer raises `OutcomeUnknown`."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One REST operation of GHL's published specs."""

    operation_id: str
    method: str
    path: str
    spec: str
    scope: str | None
    safety: Safety
    version: str = DEFAULT_VERSION

    @property
    def label(self) -> str:
        """`METHOD /path`, as errors and logs name the operation."""
        return f"{self.method} {self.path}"


_I = Safety.IDEMPOTENT
_N = Safety.NOT_IDEMPOTENT
_C = "apps/contacts.json"
_R, _W = "contacts.readonly", "contacts.write"

_TABLE = (
    # apps/contacts.json: contacts
    Operation("get-contact", "GET", "/contacts/{contactId}", _C, _R, _I),
    Operation("search-contacts-advanced", "POST", "/contacts/search", _C, _R, _I),
    Operation("get-duplicate-contact", "GET", "/contacts/search/duplicate", _C, _R, _I),
    Operation("get-contacts", "GET", "/contacts/", _C, _R, _I),
    Operation("get-contacts-by-businessId", "GET", "/contacts/business/{businessId}", _C, _R, _I),
    Operation("create-contact", "POST", "/contacts/", _C, _W, _N),
    Operation("update-contact", "PUT", "/contacts/{contactId}", _C, _W, _I),
    Operation("upsert-contact", "POST", "/contacts/upsert", _C, _W, _I),
    Operation("delete-contact", "DELETE", "/contacts/{contactId}", _C, _W, _I),
    # tags
    Operation("add-tags", "POST", "/contacts/{contactId}/tags", _C, _W, _I),
    Operation("remove-tags", "DELETE", "/contacts/{contactId}/tags", _C, _W, _I),
    Operation("create-association", "POST", "/contacts/bulk/tags/update/{type}", _C, None, _I),
    # tasks
    Operation("get-all-tasks", "GET", "/contacts/{contactId}/tasks", _C, _R, _I),
    Operation("get-task", "GET", "/contacts/{contactId}/tasks/{taskId}", _C, _R, _I),
    Operation("create-task", "POST", "/contacts/{contactId}/tasks", _C, _W, _N),
    Operation("update-task", "PUT", "/contacts/{contactId}/tasks/{taskId}", _C, _W, _I),
    Operation(
        "update-task-completed", "PUT", "/contacts/{contactId}/tasks/{taskId}/completed", _C, _W, _I
    ),
    Operation("delete-task", "DELETE", "/contacts/{contactId}/tasks/{taskId}", _C, _W, _I),
    # notes
    Operation("get-all-notes", "GET", "/contacts/{contactId}/notes", _C, _R, _I),
    Operation("get-note", "GET", "/contacts/{contactId}/notes/{id}", _C, _R, _I),
    Operation("create-note", "POST", "/contacts/{contactId}/notes", _C, _W, _N),
    Operation("update-note", "PUT", "/contacts/{contactId}/notes/{id}", _C, _W, _I),
    Operation("delete-note", "DELETE", "/contacts/{contactId}/notes/{id}", _C, _W, _I),
    # appointments of a contact
    Operation(
        "get-appointments-for-contact", "GET", "/contacts/{contactId}/appointments", _C, _R, _I
    ),
    # followers, campaigns, workflows, business
    Operation("add-followers-contact", "POST", "/contacts/{contactId}/followers", _C, _W, _I),
    Operation("remove-followers-contact", "DELETE", "/contacts/{contactId}/followers", _C, _W, _I),
    Operation(
        "add-contact-to-campaign",
        "POST",
        "/contacts/{contactId}/campaigns/{campaignId}",
        _C,
        _W,
        _N,
    ),
    Operation(
        "remove-contact-from-campaign",
        "DELETE",
        "/contacts/{contactId}/campaigns/{campaignId}",
        _C,
        _W,
        _I,
    ),
    Operation(
        "remove-contact-from-every-campaign",
        "DELETE",
        "/contacts/{contactId}/campaigns/removeAll",
        _C,
        _W,
        _I,
    ),
    Operation(
        "add-contact-to-workflow", "POST", "/contacts/{contactId}/workflow/{workflowId}", _C, _W, _N
    ),
    Operation(
        "delete-contact-from-workflow",
        "DELETE",
        "/contacts/{contactId}/workflow/{workflowId}",
        _C,
        _W,
        _I,
    ),
    Operation("add-remove-contact-from-business", "POST", "/contacts/bulk/business", _C, None, _I),
    # apps/locations.json: the location-wide task search
    Operation(
        "task-search",
        "POST",
        "/locations/{locationId}/tasks/search",
        "apps/locations.json",
        "locations/tasks.readonly",
        _I,
    ),
    # apps/locations.json: the sub-accounts a token sees (a PIT's own location)
    Operation(
        "search-locations",
        "GET",
        "/locations/search",
        "apps/locations.json",
        "locations.readonly",
        _I,
    ),
    # apps/locations.json: a location's custom field definitions
    Operation(
        "get-custom-fields",
        "GET",
        "/locations/{locationId}/customFields",
        "apps/locations.json",
        "locations/customFields.readonly",
        _I,
    ),
    # apps/calendars.json: appointments
    *(
        Operation(op_id, method, path, "apps/calendars.json", scope, safety, CALENDARS_VERSION)
        for op_id, method, path, scope, safety in (
            (
                "get-appointment",
                "GET",
                "/calendars/events/appointments/{eventId}",
                "calendars/events.readonly",
                _I,
            ),
            ("get-calendars", "GET", "/calendars/", "calendars.readonly", _I),
            ("get-calendar-events", "GET", "/calendars/events", "calendars/events.readonly", _I),
            (
                "create-appointment",
                "POST",
                "/calendars/events/appointments",
                "calendars/events.write",
                _N,
            ),
            (
                "edit-appointment",
                "PUT",
                "/calendars/events/appointments/{eventId}",
                "calendars/events.write",
                _I,
            ),
            ("delete-event", "DELETE", "/calendars/events/{eventId}", "calendars/events.write", _I),
        )
    ),
)

OPERATIONS: dict[str, Operation] = {op.operation_id: op for op in _TABLE}
"""Every operation the client can call, by GHL's operationId."""
