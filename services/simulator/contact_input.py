"""Contact write bodies to stored fields.

- `customFields` writes `[{id|key, field_value}]` become reads `[{id, value}]`; a write merges
  into the contact's fields by id; a `key` the location does not know yet is given a new id
  (UNCONFIRMED: GHL would reject unknown keys); `field_value: null` or `""` removes the value.
- `dateOfBirth` accepts `YYYY-MM-DD`, `MM/DD/YYYY` and ISO times; it is stored as
  `YYYY-MM-DD` (REST reads) and sent as an ISO time in webhooks.
- Tags are trimmed and lower-cased (UNCONFIRMED).
- Phones are normalised to E.164 (`+` and digits; 10 bare digits are taken as US numbers).
- `inboundDndSettings` and `gender` are accepted and not stored (they are not in the read shape).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from schemas.ghl import Contact, CustomFieldValue
from services.simulator._errors import ApiError
from services.simulator.dto import ContactIn
from services.simulator.state import LocationData, SimulatorState

__all__ = ["clean_tags", "contact_fields", "normalize_phone"]

_IGNORED = {"customFields", "dateOfBirth", "inboundDndSettings", "gender", "locationId",
            "createNewIfDuplicateAllowed"}  # fmt: skip


def normalize_phone(phone: str) -> str:
    """E.164-ish: keep `+` and digits; 10 bare digits get `+1`."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        return f"+{digits}"
    if len(digits) == 10:
        return f"+1{digits}"
    return f"+{digits}"


def _birthday(value: str) -> str:
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%m-%d-%Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError as exc:
        raise ApiError(422, ["dateOfBirth must be a valid date"]) from exc


def _custom_fields(
    state: SimulatorState, loc: LocationData, writes: list[Any], existing: list[CustomFieldValue]
) -> list[CustomFieldValue]:
    values = {cf.id: cf.value for cf in existing}
    for write in writes:
        field_id = write.id
        if field_id is None and write.key is not None:
            key = write.key.removeprefix("contact.")
            field_id = loc.custom_fields.setdefault(key, state.new_id())
        if field_id is None:
            raise ApiError(422, ["customFields.id should not be empty"])
        if write.field_value in (None, "", []):
            values.pop(field_id, None)
        else:
            values[field_id] = write.field_value
    return [CustomFieldValue(id=k, value=v) for k, v in values.items()]


def contact_fields(
    state: SimulatorState, loc: LocationData, body: ContactIn, existing: Contact | None = None
) -> dict[str, Any]:
    """The stored fields a create/update/upsert body sets (explicit nulls clear)."""
    fields = body.model_dump(exclude_unset=True, exclude=_IGNORED)
    if body.dndSettings is not None:
        fields["dndSettings"] = body.dndSettings.model_dump(exclude_none=True)
    if fields.get("phone"):
        fields["phone"] = normalize_phone(fields["phone"])
    email = fields.get("email")
    if email:
        if "@" not in email:
            raise ApiError(422, ["email must be an email"])
        fields["email"] = email.strip()
    if "dateOfBirth" in body.model_fields_set:
        fields["dateOfBirth"] = _birthday(body.dateOfBirth) if body.dateOfBirth else None
    if body.customFields is not None:
        current = existing.customFields or [] if existing else []
        fields["customFields"] = _custom_fields(state, loc, body.customFields, current)
    if "tags" in fields and fields["tags"] is not None:
        fields["tags"] = clean_tags(fields["tags"])
    return fields


def clean_tags(tags: list[str]) -> list[str]:
    """Tags as GHL stores them: trimmed, lower-cased (UNCONFIRMED), without repeats."""
    return list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
