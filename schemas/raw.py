"""The record format of `ghl.raw.v1`: one verified GHL delivery, exactly as received.

- value: the body bytes, untouched (the signature covers them);
- key: `{locationId}:{contactId}` when the body names them (`{locationId}:{id}` otherwise), so
  one contact's deliveries share a partition; `unknown` for bodies without a location;
- headers: `ghl-received-at` (ISO-8601 UTC, when the receiver read the body), `ghl-webhook-id`
  (the body's `webhookId`, or `sha256:<hex>` of the body when it has none),
  `ghl-signature-scheme` (`ed25519` or `rsa-sha256`), `ghl-signature` (base64, public data:
  anyone can re-verify the record later), `content-type`;
- timestamp: the receive time in epoch milliseconds.

Normalize reads `received_at` from the header, so re-processing the log is deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["RawDelivery", "RawRecordError", "raw_key", "webhook_id_of"]

_RECEIVED = "ghl-received-at"
_WEBHOOK_ID = "ghl-webhook-id"
_SCHEME = "ghl-signature-scheme"
_SIGNATURE = "ghl-signature"
_CONTENT_TYPE = "content-type"


class RawRecordError(ValueError):
    """A raw record lacks a header or has one that does not parse."""


def webhook_id_of(body: bytes, data: Mapping[str, Any]) -> str:
    """The body's `webhookId`, or a digest of the bytes (GHL retries resend the same bytes)."""
    value = data.get("webhookId")
    if isinstance(value, str) and value:
        return value
    return "sha256:" + hashlib.sha256(body).hexdigest()


def raw_key(data: Mapping[str, Any]) -> str:
    """The partition key of a delivery: location and contact when the body names them."""
    location = data.get("locationId")
    if not isinstance(location, str) or not location:
        return "unknown"
    nested = data.get("appointment")
    inner = nested if isinstance(nested, Mapping) else data
    contact = inner.get("contactId")
    if not isinstance(contact, str) or not contact:
        contact = inner.get("id") if isinstance(inner.get("id"), str) else None
    return f"{location}:{contact}" if contact else location


@dataclass(frozen=True, slots=True, kw_only=True)
class RawDelivery:
    """One delivery as written to (and read back from) the raw topic."""

    body: bytes
    received_at: datetime
    webhook_id: str
    key: str
    signature_scheme: str = ""
    signature: str = ""

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers of the record."""
        return [
            (_RECEIVED, self.received_at.astimezone(UTC).isoformat().encode()),
            (_WEBHOOK_ID, self.webhook_id.encode()),
            (_SCHEME, self.signature_scheme.encode()),
            (_SIGNATURE, self.signature.encode()),
            (_CONTENT_TYPE, b"application/json"),
        ]

    @property
    def timestamp_ms(self) -> int:
        """Record timestamp: the receive time."""
        return int(self.received_at.timestamp() * 1000)

    @classmethod
    def from_record(
        cls, value: bytes | None, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> RawDelivery:
        """Read a record back; `RawRecordError` when it is not one of ours."""
        found = {name: raw for name, raw in headers}
        if value is None:
            raise RawRecordError("record has no value")
        if _RECEIVED not in found:
            raise RawRecordError(f"record lacks the {_RECEIVED} header")
        try:
            received = datetime.fromisoformat(found[_RECEIVED].decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise RawRecordError(f"bad {_RECEIVED} header: {exc}") from exc
        if received.tzinfo is None:
            raise RawRecordError(f"{_RECEIVED} has no timezone")
        return cls(
            body=value,
            received_at=received,
            webhook_id=found.get(_WEBHOOK_ID, b"").decode(errors="replace"),
            key=(key or b"").decode(errors="replace"),
            signature_scheme=found.get(_SCHEME, b"").decode(errors="replace"),
            signature=found.get(_SIGNATURE, b"").decode(errors="replace"),
        )
