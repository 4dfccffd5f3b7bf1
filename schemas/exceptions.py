"""Exceptions raised by the `schemas` package.

Bad *input* (a webhook body or an event read from Kafka) is never raised: `parse_webhook` and
`decode_event` return `WebhookDecodeError` / `EventDecodeError` values instead, so an agent can
dead-letter the message with its reason. The exceptions below signal misuse by our own code:

    SchemaError                 root of this package; none of these is retryable
    ├── MissingContactIdError   an event was built for an entity whose contact is unknown
    └── UpcastError             a stored event cannot be brought to its current schema_version
"""

from __future__ import annotations

__all__ = ["MissingContactIdError", "SchemaError", "UpcastError"]


class SchemaError(Exception):
    """Root of every exception raised by `schemas`."""


class MissingContactIdError(SchemaError, ValueError):
    """The entity carries no `contactId` and none was given, so the event has no Kafka key."""


class UpcastError(SchemaError, ValueError):
    """A stored event does not have the shape its `(event_type, schema_version)` promises."""
