"""`Outcome`: a command's terminal result before it is stored and published."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

from schemas import CommandError, Event

__all__ = ["EntityKind", "Outcome"]

EntityKind: TypeAlias = Literal["contact", "task", "note", "appointment"]


@dataclass
class Outcome:
    """A command's terminal result, before it is stored and published."""

    state: Literal["succeeded", "failed", "rejected"]
    contact_id: str | None = None
    entity_type: EntityKind | None = None
    entity_id: str | None = None
    snapshot: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)
    error: CommandError | None = None
    adopted: bool = False
    conflict: dict[str, Any] | None = None
    ghl_done_at: datetime | None = None
