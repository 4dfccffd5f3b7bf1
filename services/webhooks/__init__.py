"""The GHL webhook receiver: verify signatures, drop replays, persist to `ghl.raw.v1`, then 2xx.

    app = create_app(WebhookSettings())   # serve with uvicorn (`ghl-sync webhooks`)

See `app.py` for the answers and the failure policy, `raw.py` for the raw record format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from schemas.raw import RawDelivery, RawRecordError, raw_key, webhook_id_of
    from services.webhooks._receipts import Claim, PostgresReceiptStore, ReceiptStore
    from services.webhooks._signature import SignatureCheck, SignatureVerifier
    from services.webhooks._sink import KafkaRawSink, RawSink, Written
    from services.webhooks.app import create_app
    from services.webhooks.exceptions import ReceiptStoreError, SinkUnavailable, WebhookError
    from services.webhooks.settings import (
        GHL_ED25519_PUBLIC_KEY,
        GHL_RSA_PUBLIC_KEY,
        WebhookSettings,
    )

__all__ = [
    "GHL_ED25519_PUBLIC_KEY",
    "GHL_RSA_PUBLIC_KEY",
    "Claim",
    "KafkaRawSink",
    "PostgresReceiptStore",
    "RawDelivery",
    "RawRecordError",
    "RawSink",
    "ReceiptStore",
    "ReceiptStoreError",
    "SignatureCheck",
    "SignatureVerifier",
    "SinkUnavailable",
    "WebhookError",
    "WebhookSettings",
    "Written",
    "create_app",
    "raw_key",
    "webhook_id_of",
]

__getattr__, __dir__ = lazy_exports(__name__)
