"""Verifying GHL's webhook signatures (REFERENCE.md section 3).

`X-GHL-Signature` (Ed25519) wins when present, with no fallback to the other header; else
`X-WH-Signature` (RSA PKCS#1 v1.5, SHA-256) while the legacy scheme is accepted. `N/A` counts
as absent. The raw body bytes are tried first, then (optionally) their compact re-serialisation,
because GHL's examples sign `JSON.stringify(body)`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from services.webhooks.settings import WebhookSettings

__all__ = ["SignatureCheck", "SignatureVerifier"]

ED25519_HEADER = "x-ghl-signature"
RSA_HEADER = "x-wh-signature"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome: `ok`, or the rejection reason (`missing_signature`, `bad_signature`)."""

    ok: bool
    reason: str = ""
    scheme: Literal["ed25519", "rsa-sha256", ""] = ""
    signature: str = ""


def _load_ed25519(pem: str) -> ed25519.Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError("configured ed25519 key is not an Ed25519 public key")
    return key


def _load_rsa(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("configured rsa key is not an RSA public key")
    return key


def _present(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if not value or value.upper() == "N/A" else value


def _reserialized(body: bytes) -> bytes | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    # JSON.stringify: no whitespace, non-ASCII kept as is.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class SignatureVerifier:
    """Checks a delivery against the configured public keys."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._ed25519 = [_load_ed25519(pem) for pem in settings.ed25519_public_keys]
        self._rsa = [_load_rsa(pem) for pem in settings.rsa_public_keys]
        self._legacy = settings.accept_legacy_rsa
        self._reserialize = settings.verify_reserialized

    def verify(self, body: bytes, headers: Mapping[str, str]) -> SignatureCheck:
        """Whether `body` carries a valid signature in `headers` (lower-case names)."""
        current = _present(headers.get(ED25519_HEADER))
        if current is not None:
            ok = self._check(body, current, self._ed25519_ok)
            return SignatureCheck(ok, "" if ok else "bad_signature", "ed25519", current)
        legacy = _present(headers.get(RSA_HEADER)) if self._legacy else None
        if legacy is not None:
            ok = self._check(body, legacy, self._rsa_ok)
            return SignatureCheck(ok, "" if ok else "bad_signature", "rsa-sha256", legacy)
        return SignatureCheck(False, "missing_signature")

    def _check(self, body: bytes, encoded: str, one: Callable[[bytes, bytes], bool]) -> bool:
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return False
        if one(body, signature):
            return True
        if not self._reserialize:
            return False
        alternative = _reserialized(body)
        return alternative is not None and alternative != body and one(alternative, signature)

    def _ed25519_ok(self, message: bytes, signature: bytes) -> bool:
        for key in self._ed25519:
            try:
                key.verify(signature, message)
            except InvalidSignature:
                continue
            return True
        return False

    def _rsa_ok(self, message: bytes, signature: bytes) -> bool:
        for key in self._rsa:
            try:
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                continue
            return True
        return False
