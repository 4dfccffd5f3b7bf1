"""The GHL client's errors: defined in `schemas.ghl_errors` (the processes catch them without
importing the client); re-exported here for the client's own modules."""

from __future__ import annotations

from schemas.ghl_errors import (
    AuthError,
    GhlError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    TransportError,
    ValidationFailed,
)

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
