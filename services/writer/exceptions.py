"""Errors of the writer.

    WriterError              root
     ├── Retry               the command must be tried again later (429, 5xx, timeout, an
     │                       unknown outcome not yet resolved); carries `after` seconds
     └── PartitionBusy       another writer holds the partition's lock (retryable: wait)

Anything else that escapes a command is a bug: the writer stops, and its supervisor
restarts it; the command is read again and resumes from its state in PostgreSQL.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["PartitionBusy", "Retry", "WriterError"]


class WriterError(Exception):
    """Root of the writer's errors."""

    retryable: ClassVar[bool] = False


class Retry(WriterError):
    """Try the command again after `after` seconds (at least)."""

    retryable = True

    def __init__(self, reason: str, *, after: float = 0.0) -> None:
        super().__init__(reason)
        self.after = after


class PartitionBusy(WriterError):
    """Another writer holds this partition."""

    retryable = True
