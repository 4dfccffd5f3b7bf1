"""Errors of the local stack.

    StackError
     ├── MissingDependency   a program the stack needs is not installed and cannot be installed
     ├── StartFailed         a server did not come up; carries the tail of its log
     ├── PortBusy            a configured port is taken by a process the stack did not start
     ├── EphemeralPort       a configured port lies in the kernel's ephemeral range
     └── MovedPort           the stack's server runs on another port than configured

None is retryable by the caller as is: each names what to change.
"""

from __future__ import annotations

__all__ = [
    "EphemeralPort",
    "MissingDependency",
    "MovedPort",
    "PortBusy",
    "StackError",
    "StartFailed",
]


class StackError(Exception):
    """Root of the local stack's errors."""


class MissingDependency(StackError):
    """A program the stack needs is missing."""


class StartFailed(StackError):
    """A server did not start; the message ends with the tail of its log."""

    def __init__(self, what: str, reason: str, log_tail: str = "") -> None:
        message = f"{what} did not start: {reason}"
        if log_tail:
            message += f"\n--- last lines of the log ---\n{log_tail}"
        super().__init__(message)
        self.what = what
        self.reason = reason
        self.log_tail = log_tail


class PortBusy(StackError):
    """A configured port is already in use by something the stack did not start."""


class EphemeralPort(StackError):
    """A server was to listen on a port the kernel also hands out as a source port."""


class MovedPort(StackError):
    """The stack's server already runs, on another port than the settings name."""
