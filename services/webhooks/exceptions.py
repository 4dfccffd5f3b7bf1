"""Errors of the webhook receiver.

WebhookError            root
 ├── SinkUnavailable    Kafka did not confirm the record (retryable: answer 429)
 └── ReceiptStoreError  PostgreSQL failed while claiming or confirming a webhookId
                        (retryable; the receiver persists without dedupe meanwhile)
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["ReceiptStoreError", "SinkUnavailable", "WebhookError"]


class WebhookError(Exception):
    """Root of the receiver's errors."""

    retryable: ClassVar[bool] = False


class SinkUnavailable(WebhookError):
    """The raw topic did not confirm a record in time."""

    retryable = True


class ReceiptStoreError(WebhookError):
    """The receipt table could not be read or written."""

    retryable = True
