"""Tokens at rest: AES-256-GCM with a key from the settings.

Each value gets a fresh 96-bit nonce; the associated data names the row and column
(`location:field`), so a ciphertext copied to another location or column fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from schemas.ghl_errors import AuthError

__all__ = ["TokenCipher", "generate_key"]

_NONCE = 12
_VERSION = b"\x01"


def generate_key() -> str:
    """A new key for `GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY` (URL-safe base64 of 32 bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class TokenCipher:
    """Encrypts and decrypts token strings; holds the key and never shows it."""

    def __init__(self, key: SecretStr) -> None:
        try:
            raw = base64.urlsafe_b64decode(key.get_secret_value().encode())
        except (binascii.Error, ValueError) as exc:
            raise ValueError("token encryption key is not URL-safe base64") from exc
        if len(raw) != 32:
            raise ValueError(
                "token encryption key must be 32 bytes (URL-safe base64); "
                "make one with `ghl-sync auth --new-key`"
            )
        self._aead = AESGCM(raw)

    def __repr__(self) -> str:
        return "TokenCipher(key=**********)"

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """`version || nonce || ciphertext+tag`."""
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _VERSION + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> str:
        """The plaintext; `AuthError` if the key is wrong or the value was tampered with."""
        if blob[:1] != _VERSION:
            raise AuthError(f"stored token for {context} has an unknown format")
        nonce, sealed = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, sealed, context.encode()).decode()
        except InvalidTag as exc:
            raise AuthError(
                f"stored token for {context} does not decrypt (wrong key or altered row)"
            ) from exc
