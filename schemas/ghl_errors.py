"""Errors of the GHL client (raised by `services.ghl`, caught by every process that reads GHL).

They live in `schemas` so a process can catch them without importing the client: the entry
points build the client and pass it (or a fetcher on it) in.

    GhlError                    root; carries `operation` ("METHOD /path") and GHL's `trace_id`
     ├── AuthError              401/403, or no usable token (missing, refresh rejected)
     ├── RateLimited            429 after the client's own waits; carries `retry_after` seconds
     ├── NotFound               404 (and GHL's 400 "... not found" for a missing record)
     ├── ValidationFailed       400/422; carries GHL's `messages` list
     ├── ServerError            5xx after the retries allowed for the operation
     ├── OutcomeUnknown         a non-idempotent write (a create) was sent and no answer came back:
     │                          timeout, dropped connection or 5xx; it may or may not have happened
     └── TransportError         the request never got an HTTP answer (connection, timeout, protocol)

Retryable by the caller (`error.retryable` is True): `RateLimited` (after `retry_after`),
`ServerError` and `TransportError` (the client already retried the idempotent ones; a later
retry is still safe for them). Not retryable as is: `AuthError` (re-authorise), `NotFound`,
`ValidationFailed` (fix the request; note GHL issue #64: a create answered 422 may still have
created the record) and `OutcomeUnknown` (look the record up first, then decide).

httpx errors are translated at the boundary and chained with `from exc`. No message here ever
holds a token, a client secret or a request body: only the operation, the status and GHL's own
error message.
"""

from __future__ import annotations

from typing import ClassVar, TypedDict, Unpack

__all__ = [
    "AuthError",
    "GhlError",
    "NotFound",
    "OutcomeUnknown",
    "RateLimited",
    "ServerError",
    "TransportError",
    "ValidationFailed",
]


class _Context(TypedDict, total=False):
    """Where an error came from: the keywords every error takes besides its message."""

    operation: str
    status_code: int | None
    trace_id: str | None


class GhlError(Exception):
    """Root of the GHL client's errors."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status_code: int | None = None,
        trace_id: str | None = None,
    ) -> None:
        text = f"{operation}: {message}" if operation else message
        if status_code is not None:
            text += f" (HTTP {status_code})"
        if trace_id:
            text += f" [traceId {trace_id}]"
        super().__init__(text)
        self.operation = operation
        self.status_code = status_code
        self.trace_id = trace_id


class AuthError(GhlError):
    """GHL refused the token (401/403), or no valid token could be obtained."""


class RateLimited(GhlError):
    """GHL answered 429 more often than the client waits out, or the daily budget is spent."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        **context: Unpack[_Context],
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class NotFound(GhlError):
    """The record does not exist (or is not visible to this token)."""


class ValidationFailed(GhlError):
    """GHL rejected the request (400/422); `messages` holds GHL's validation messages."""

    def __init__(
        self,
        message: str,
        *,
        messages: tuple[str, ...] = (),
        **context: Unpack[_Context],
    ) -> None:
        super().__init__(message, **context)
        self.messages = messages


class ServerError(GhlError):
    """GHL answered 5xx (after the retries allowed for an idempotent operation)."""

    retryable = True


class OutcomeUnknown(GhlError):
    """A non-idempotent write was sent but its result is unknown; look it up before retrying."""


class TransportError(GhlError):
    """No HTTP answer: connection refused or dropped, timeout, protocol error."""

    retryable = True
