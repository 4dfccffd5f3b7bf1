"""Segment rules: pure, no I/O. Which segments a contact snapshot belongs to, and whether it
is new to us or changed.

A rule set is plain data, so it can be read from a file:

    Rules(by_source={"facebook": "paid-social"}, by_tag={"vip": "vip"},
          by_custom_field=("fieldIdOfLeadTier", {"hot": "sales-now"}))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from schemas import Contact

__all__ = ["Routed", "Router", "Rules", "segments_of"]


@dataclass(frozen=True)
class Rules:
    """Source → segment, tag → segment, and (custom field id, value → segment)."""

    by_source: Mapping[str, str] = field(default_factory=dict)
    by_tag: Mapping[str, str] = field(default_factory=dict)
    by_custom_field: tuple[str, Mapping[str, str]] | None = None
    fallback: str = "unsorted"


def segments_of(contact: Contact, rules: Rules) -> frozenset[str]:
    """Every segment the contact's source, tags and custom field put it in (else fallback)."""
    out: set[str] = set()
    source = (contact.source or "").strip().lower()
    if source in rules.by_source:
        out.add(rules.by_source[source])
    for tag in contact.tags or ():
        if tag.strip().lower() in rules.by_tag:
            out.add(rules.by_tag[tag.strip().lower()])
    if rules.by_custom_field is not None:
        field_id, values = rules.by_custom_field
        for cf in contact.customFields or ():
            if cf.id == field_id and isinstance(cf.value, str) and cf.value in values:
                out.add(values[cf.value])
    return frozenset(out or {rules.fallback})


@dataclass(frozen=True)
class Routed:
    """A contact entered (`new`) or changed segments (`changed`), or left them (`deleted`)."""

    location_id: str
    contact_id: str
    kind: Literal["new", "changed", "deleted"]
    segments: frozenset[str]
    previous: frozenset[str]
    event_id: str


class Router:
    """Remembers each contact's segments and the newest snapshot time it routed, so
    duplicates and older snapshots arriving late route nothing."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._held: dict[tuple[str, str], tuple[str, frozenset[str]]] = {}

    def contact(
        self, location_id: str, contact: Contact, version: str, event_id: str
    ) -> Routed | None:
        """Route a contact snapshot of `version` (an ISO time); None when nothing changed."""
        key = (location_id, contact.id)
        held = self._held.get(key)
        if held is not None and held[0] >= version:
            return None
        segments = segments_of(contact, self.rules)
        self._held[key] = (version, segments)
        if held is None:
            return Routed(location_id, contact.id, "new", segments, frozenset(), event_id)
        if held[1] == segments:
            return None
        return Routed(location_id, contact.id, "changed", segments, held[1], event_id)

    def deleted(self, location_id: str, contact_id: str, event_id: str) -> Routed | None:
        """The contact is gone: it leaves its segments."""
        held = self._held.pop((location_id, contact_id), None)
        if held is None:
            return None
        return Routed(location_id, contact_id, "deleted", frozenset(), held[1], event_id)
