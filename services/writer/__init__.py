"""The writer: applies APPNAME's commands to GHL exactly once, in order per contact.

    settings = WriterSettings()
    await run_writer(settings, ghl_settings=GhlSettings())

See `_exactly_once` for the exactly-once rules, `_handlers` for the handler table (one per
command type), `_conflicts` for the conflict policies and `_runtime` for ordering, offsets and
the failure policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.db.commands import AcceptedRow, CommandRow, WriterStore
    from services.writer._apply import Applier
    from services.writer._conflicts import ConflictCheck, check_conflict
    from services.writer._main import SUPPORTED_OPERATIONS, run_writer
    from services.writer._outcome import Outcome
    from services.writer._runtime import Writer, WriterStats, writer_topics
    from services.writer.exceptions import PartitionBusy, Retry, WriterError
    from services.writer.settings import ConflictPolicy, WriterSettings

__all__ = [
    "SUPPORTED_OPERATIONS",
    "AcceptedRow",
    "Applier",
    "CommandRow",
    "ConflictCheck",
    "ConflictPolicy",
    "Outcome",
    "PartitionBusy",
    "Retry",
    "Writer",
    "WriterError",
    "WriterSettings",
    "WriterStats",
    "WriterStore",
    "check_conflict",
    "run_writer",
    "writer_topics",
]

__getattr__, __dir__ = lazy_exports(__name__)
