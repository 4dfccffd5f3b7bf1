"""Signed webhook delivery with GHL's retries.

Each change becomes one body (`payloads.build_payload` plus `webhookId` and `timestamp`),
serialised once; the exact bytes are signed and sent to every configured URL:

- `X-GHL-Signature`: base64 Ed25519 signature over the raw body bytes (our own key; its public
  half is at `GET /_admin/webhook-public-key`).
- `X-WH-Signature` (when `webhook_legacy_rsa_signature`): base64 RSA PKCS#1 v1.5 SHA-256.

A non-2xx answer, a timeout or a connection error is retried up to `webhook_max_retries` times
with exponential backoff and "equal jitter": before retry n the wait is d/2 + U(0, d/2) with
d = min(max, base * 2**(n-1)). Retries resend the same bytes and `webhookId`. Deliveries run
as background tasks on the running event loop; `drain()` waits for them. Fault injection may
drop, duplicate (same `webhookId`) or hold back (reorder) a delivery.

UNCONFIRMED: ordering (none guaranteed here either), the delivery timeout (a setting), and
headers besides the signatures (we send `Content-Type: application/json`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from schemas.ghl import GhlEntity
from services.simulator.faults import FaultInjector
from services.simulator.payloads import build_payload
from services.simulator.render import iso_ms
from services.simulator.settings import SimulatorSettings

__all__ = ["DeliveryRecord", "WebhookDispatcher", "WebhookSigner"]

_log = logging.getLogger(__name__)


class WebhookSigner:
    """The simulator's signing keys."""

    def __init__(self, settings: SimulatorSettings) -> None:
        if settings.webhook_signing_key is not None:
            key = serialization.load_pem_private_key(
                settings.webhook_signing_key.get_secret_value().encode(), password=None
            )
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                raise ValueError("webhook_signing_key is not an Ed25519 private key")
            self._ed25519 = key
        else:
            digest = hashlib.sha256(f"ghl-sync-simulator-ed25519:{settings.seed}".encode())
            self._ed25519 = ed25519.Ed25519PrivateKey.from_private_bytes(digest.digest())
        self._rsa: rsa.RSAPrivateKey | None = None
        self._rsa_pem = settings.webhook_rsa_signing_key
        self._rsa_bits = settings.webhook_rsa_key_bits
        self.legacy = settings.webhook_legacy_rsa_signature

    def _rsa_key(self) -> rsa.RSAPrivateKey:
        if self._rsa is None:
            if self._rsa_pem is not None:
                key = serialization.load_pem_private_key(
                    self._rsa_pem.get_secret_value().encode(), password=None
                )
                if not isinstance(key, rsa.RSAPrivateKey):
                    raise ValueError("webhook_rsa_signing_key is not an RSA private key")
                self._rsa = key
            else:
                self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=self._rsa_bits)
        return self._rsa

    def sign(self, body: bytes) -> dict[str, str]:
        """The signature headers for these exact bytes."""
        headers = {"X-GHL-Signature": base64.b64encode(self._ed25519.sign(body)).decode()}
        if self.legacy:
            signature = self._rsa_key().sign(body, padding.PKCS1v15(), hashes.SHA256())
            headers["X-WH-Signature"] = base64.b64encode(signature).decode()
        return headers

    def public_keys(self) -> dict[str, str]:
        """PEM (SubjectPublicKeyInfo) of the Ed25519 and RSA public keys."""
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.PEM
        return {
            "ed25519": self._ed25519.public_key().public_bytes(enc, fmt).decode(),
            "rsa": self._rsa_key().public_key().public_bytes(enc, fmt).decode(),
        }


@dataclass
class DeliveryRecord:
    """One webhook to one URL, as the admin log shows it."""

    webhook_id: str
    event: str
    location_id: str
    url: str
    status: Literal["pending", "delivered", "failed", "dropped"] = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON for `GET /_admin/webhooks`."""
        return {
            "webhookId": self.webhook_id,
            "event": self.event,
            "locationId": self.location_id,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "lastStatusCode": self.last_status_code,
            "lastError": self.last_error,
        }


class WebhookDispatcher:
    """Turns state changes into signed deliveries (it is the state's listener)."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        clock: Callable[[], datetime],
        faults: FaultInjector,
        signer: WebhookSigner,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls: list[str] = list(settings.webhook_urls)
        self.log: deque[DeliveryRecord] = deque(maxlen=5000)
        self._settings = settings
        self._clock = clock
        self._faults = faults
        self._signer = signer
        self._rng = random.Random(f"ghl-sync-simulator-webhooks:{settings.seed}")
        self._client = httpx.AsyncClient(
            transport=transport, timeout=settings.webhook_timeout_seconds
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, event: str, location_id: str, entity: GhlEntity) -> None:
        """Build, sign and schedule the webhook for one change."""
        drop_contact = self._rng.random() < self._settings.task_create_without_contact_rate
        payload = build_payload(event, location_id, entity, drop_task_contact=drop_contact)
        payload["webhookId"] = str(uuid.uuid4())
        payload["timestamp"] = iso_ms(self._clock())
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **self._signer.sign(body)}
        for url in self.urls:
            plan = self._faults.webhook_plan()
            record = DeliveryRecord(payload["webhookId"], event, location_id, url)
            self.log.append(record)
            if plan.drop:
                record.status = "dropped"
                continue
            for _ in range(plan.copies):
                self._spawn(self._deliver(record, body, headers, plan.delay))

    def _spawn(self, coro: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # A change made outside the event loop (a script poking the state) cannot be
            # delivered in the background; it is logged as failed rather than lost silently.
            coro.close()
            _log.warning("webhook not delivered: no running event loop")
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _backoff(self, retry: int) -> float:
        settings = self._settings
        ceiling = min(
            settings.webhook_retry_max_seconds,
            settings.webhook_retry_base_seconds * 2.0 ** (retry - 1),
        )
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _deliver(
        self, record: DeliveryRecord, body: bytes, headers: dict[str, str], delay: float
    ) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        for attempt in range(self._settings.webhook_max_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff(attempt))
            record.attempts += 1
            try:
                response = await self._client.post(record.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                record.last_error = type(exc).__name__
                record.last_status_code = None
                continue
            record.last_status_code = response.status_code
            if response.is_success:
                record.status = "delivered"
                return
        record.status = "failed"
        _log.warning(
            "webhook %s (%s) to %s failed after %d attempts",
            record.webhook_id,
            record.event,
            record.url,
            record.attempts,
        )

    @property
    def pending(self) -> int:
        """Deliveries still running (including their retries)."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has finished (delivered or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel what is still pending and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._client.aclose()
