"""Applying one command to GHL: the conflict check, then the command type's handler.

Where each part lives:

- `_handlers`: the closed table, one handler per command type (`_contact_handlers`,
  `_activity_handlers`), checked complete against `schemas.COMMAND_TYPES` at import;
- `_exactly_once`: the exactly-once rules (intent before create, look up before retry, a
  trigger at most once, a delete that finds nothing succeeded, which errors are retried);
- `_lookups`: the pure matchers that recognise a create GHL already applied, and their finders;
- `_conflicts`: `expected_version` against GHL's current `dateUpdated`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from schemas import CommandBase
from services.db.commands import CommandRow, WriterStore
from services.ghl import GhlClient, GhlError
from services.writer._conflicts import check_conflict
from services.writer._context import ApplyContext
from services.writer._exactly_once import error_outcome
from services.writer._handlers import HANDLERS
from services.writer._outcome import Outcome
from services.writer.settings import WriterSettings

__all__ = ["Applier", "Outcome"]


def _now() -> datetime:
    return datetime.now(UTC)


class Applier:
    """Applies commands through the GHL client at write priority."""

    def __init__(
        self,
        client: GhlClient,
        store: WriterStore,
        settings: WriterSettings,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._client = client
        self._store = store
        self._settings = settings
        self._clock = clock

    async def apply(self, command: CommandBase, row: CommandRow) -> Outcome:
        """The command's outcome; raises `Retry` when GHL must be asked again later."""
        entry = HANDLERS[type(command)]
        try:
            check = await check_conflict(self._client, self._store, command, row, self._settings)
            if check.outcome is not None:
                return check.outcome
            ctx = ApplyContext(
                client=self._client,
                store=self._store,
                settings=self._settings,
                clock=self._clock,
                row=row,
                check=check,
            )
            outcome = await entry.handle(ctx, command)
        except GhlError as exc:
            return error_outcome(command, exc)
        if outcome.ghl_done_at is None:
            outcome.ghl_done_at = self._clock()
        if check.conflict is not None and outcome.conflict is None:
            outcome.conflict = check.conflict
        return outcome
