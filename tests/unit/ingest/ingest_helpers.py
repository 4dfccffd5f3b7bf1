"""Signing keys, signed bodies and in-memory stand-ins for the receiver's sink and receipts."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from services.webhooks import Claim, RawDelivery, SinkUnavailable, WebhookSettings, Written

ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"k" * 32)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
NOW = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def pem(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def settings(**values: Any) -> WebhookSettings:
    return WebhookSettings.model_validate(
        {"ed25519_public_keys": (pem(ED_KEY),), "rsa_public_keys": (pem(RSA_KEY),), **values}
    )


def body(**fields: Any) -> bytes:
    data = {
        "type": "ContactUpdate",
        "locationId": "loc1",
        "id": "c1",
        "webhookId": str(uuid.uuid4()),
        "timestamp": "2026-03-02T08:14:00.000Z",
        **fields,
    }
    return json.dumps(data, separators=(",", ":")).encode()


def ed_sign(raw: bytes) -> dict[str, str]:
    return {"X-GHL-Signature": base64.b64encode(ED_KEY.sign(raw)).decode()}


def rsa_sign(raw: bytes) -> dict[str, str]:
    signature = RSA_KEY.sign(raw, padding.PKCS1v15(), hashes.SHA256())
    return {"X-WH-Signature": base64.b64encode(signature).decode()}


class MemorySink:
    def __init__(self, *, fail: bool = False) -> None:
        self.records: list[RawDelivery] = []
        self.fail = fail

    async def write(self, delivery: RawDelivery) -> Written:
        if self.fail:
            raise SinkUnavailable("broker down")
        self.records.append(delivery)
        return Written(partition=0, offset=len(self.records) - 1)

    async def aclose(self) -> None:
        return None


class MemoryReceipts:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, uuid.UUID]] = {}

    async def claim(self, webhook_id: str, token: uuid.UUID) -> Claim:
        held = self.rows.get(webhook_id)
        if held is None:
            self.rows[webhook_id] = ("claimed", token)
            return Claim.OWNED
        return Claim.DUPLICATE if held[0] == "persisted" else Claim.IN_FLIGHT

    async def confirm(
        self, webhook_id: str, token: uuid.UUID, *, partition: int, offset: int
    ) -> None:
        if self.rows.get(webhook_id, ("", None))[1] == token:
            self.rows[webhook_id] = ("persisted", token)

    async def release(self, webhook_id: str, token: uuid.UUID) -> None:
        if self.rows.get(webhook_id) == ("claimed", token):
            del self.rows[webhook_id]
