"""Signed webhook delivery with GHL's retries.

Each change becomes one body (`payloads.build_payload` plus `webhookId` and `timestamp`),
serialised once; the exact bytes are signed and sent to every configured URL:

- `X-GHL-Signature`: base64 Ed25519 signature over the raw body bytes (our own key; its public
  half is at `GET /_admin/webhook-public-key`).
- `X-WH-Signature` (when `webhook_legacy_rsa_signature`): base64 RSA PKCS#1 v1.5 SHA-256.

A non-2xx answer, a timeout or a connection error is retried up to `webhook_max_retries` times
with exponential backoff and "equal jitter": before retry n the wait is d/2 + U(0, d/2) with
d = min(max, base * 2**(n-1)). Retries resend the same bytes and `webhookId`. Fault injection
may drop, duplicate (same `webhookId`) or hold back (reorder) a delivery.

At real sizes (a bulk action on 10,000 contacts is 10,000 webhooks at once), deliveries go
through a bounded queue served by a fixed number of sender tasks (`webhook_senders`) on one
HTTP client whose pool holds exactly that many connections, so the work in flight never grows
with the backlog and the API keeps answering:

- Plain `http://` targets are posted with a small HTTP/1.1 client (`_http1`): each sender keeps
  its own connection per host, so no pool bookkeeping grows with the backlog; `https://`
  targets and a given test transport use httpx.
- `publish` (called by the state, synchronously, inside a request) only records the change;
  the body is built, serialised and signed by the sender that first sends it.
- The queue is kept per location and served round-robin, so one location's bulk action does not
  hold back another location's webhooks (GHL delivers from a large fleet; one sub-account's
  bulk action is not seen to delay others). Within a location, order is first in, first out,
  but with several senders and retries no order is guaranteed, as with GHL.
- At most `webhook_queue_max` deliveries wait; beyond that a delivery is dropped and logged
  (`lastError: "queue full"`), as a real outage would lose it. Waiting retries and held-back
  (reordered) deliveries sit on a timer until due, never occupying a sender.
- `webhook_deliveries_per_second` (0: unpaced) caps the global send rate, to mimic GHL's pacing
  of bulk actions (UNCONFIRMED: GHL documents no rate; the default sends as fast as the senders
  and the receiver allow).
- A change made outside a running event loop waits in the queue until the senders start (the
  next `publish` on a loop, or `drain()`).

`drain()` waits until nothing is queued, in flight or waiting to retry.

UNCONFIRMED: ordering (none guaranteed here either), the delivery timeout (a setting), and
headers besides the signatures (we send `Content-Type: application/json`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import heapq
import itertools
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from pydantic import SecretStr

from schemas.ghl import GhlEntity
from services.simulator._http1 import Http1Connections, HttpFailure
from services.simulator.faults import FaultInjector
from services.simulator.payloads import build_payload
from services.simulator.render import iso_ms
from services.simulator.settings import SimulatorSettings

__all__ = ["DeliveryRecord", "WebhookDispatcher", "WebhookSigner"]

_log = logging.getLogger(__name__)


_Key = TypeVar("_Key", ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)


def _signing_key(
    pem: SecretStr | None, kind: type[object], wrong_kind: str, make: Callable[[], _Key]
) -> _Key:
    """The configured private key (`pem`), else `make()`; ValueError(`wrong_kind`) when `pem`
    holds another kind of key."""
    if pem is None:
        return make()
    key = serialization.load_pem_private_key(pem.get_secret_value().encode(), password=None)
    if not isinstance(key, kind):
        raise ValueError(wrong_kind)
    return cast(_Key, key)


class WebhookSigner:
    """The simulator's signing keys."""

    def __init__(self, settings: SimulatorSettings) -> None:
        digest = hashlib.sha256(f"ghl-sync-simulator-ed25519:{settings.seed}".encode()).digest()
        self._ed25519 = _signing_key(
            settings.webhook_signing_key,
            ed25519.Ed25519PrivateKey,
            "webhook_signing_key is not an Ed25519 private key",
            make=lambda: ed25519.Ed25519PrivateKey.from_private_bytes(digest),
        )
        self._rsa: rsa.RSAPrivateKey | None = None
        self._rsa_pem = settings.webhook_rsa_signing_key
        self._rsa_bits = settings.webhook_rsa_key_bits
        self.legacy = settings.webhook_legacy_rsa_signature

    def _rsa_key(self) -> rsa.RSAPrivateKey:
        # Made on first use only: generating an RSA key takes a while.
        if self._rsa is None:
            self._rsa = _signing_key(
                self._rsa_pem,
                rsa.RSAPrivateKey,
                "webhook_rsa_signing_key is not an RSA private key",
                make=lambda: rsa.generate_private_key(
                    public_exponent=65537, key_size=self._rsa_bits
                ),
            )
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
    last_sent_at: datetime | None = None
    delivered_at: datetime | None = None

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
            "lastSentAt": iso_ms(self.last_sent_at) if self.last_sent_at else None,
            "deliveredAt": iso_ms(self.delivered_at) if self.delivered_at else None,
        }


class _NoAnswer(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Change:
    """One change to announce; its signed body is built once, by the first sender."""

    event: str
    location_id: str
    entity: GhlEntity | dict[str, Any]
    webhook_id: str
    timestamp: str
    drop_task_contact: bool
    _wire: tuple[bytes, dict[str, str]] | None = None

    def wire(self, signer: WebhookSigner) -> tuple[bytes, dict[str, str]]:
        """The exact bytes and headers every attempt to every URL sends."""
        if self._wire is None:
            if isinstance(self.entity, dict):
                payload = dict(self.entity)  # an app-level event: the body as given
            else:
                payload = build_payload(
                    self.event,
                    self.location_id,
                    self.entity,
                    drop_task_contact=self.drop_task_contact,
                )
            payload["webhookId"] = self.webhook_id
            payload["timestamp"] = self.timestamp
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            self._wire = (body, {"Content-Type": "application/json", **signer.sign(body)})
        return self._wire


@dataclass
class _Delivery:
    record: DeliveryRecord
    change: _Change
    retries: int = 0


@dataclass
class _Counts:
    queued: int = 0
    in_flight: int = 0
    waiting: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    last_delivered_at: datetime | None = None


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
        self.log: deque[DeliveryRecord] = deque(maxlen=settings.webhook_log_size)
        self._settings = settings
        self._clock = clock
        self._faults = faults
        self._signer = signer
        self._rng = random.Random(f"ghl-sync-simulator-webhooks:{settings.seed}")
        senders = settings.webhook_senders
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=settings.webhook_timeout_seconds,
            limits=httpx.Limits(max_connections=senders, max_keepalive_connections=senders),
        )
        # Plain http:// targets without a test transport: each sender's own connections.
        self._raw = transport is None
        self._connections: list[Http1Connections] = []
        self._queues: dict[str, deque[_Delivery]] = {}
        self._ring: deque[str] = deque()
        """Locations with queued deliveries, in round-robin order."""
        self._timers: list[tuple[float, int, _Delivery]] = []
        self._sequence = itertools.count()
        self._counts = _Counts()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work = asyncio.Event()
        self._timer_changed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._next_slot = 0.0
        self._closed = False

    # -- publishing -----------------------------------------------------------------------

    def publish(self, event: str, location_id: str, entity: GhlEntity) -> None:
        """Queue the webhook for one change (built and signed when first sent)."""
        drop_contact = self._rng.random() < self._settings.task_create_without_contact_rate
        self._publish(event, location_id, entity, drop_contact)

    def publish_app_event(self, event: str, location_id: str, body: dict[str, Any]) -> None:
        """Queue an app-level webhook (INSTALL, UNINSTALL, LocationCreate) with this body.

        `location_id` only orders the queue (the company id for agency-level events).
        """
        self._publish(event, location_id, body, False)

    def _publish(
        self,
        event: str,
        location_id: str,
        entity: GhlEntity | dict[str, Any],
        drop_contact: bool,
    ) -> None:
        change = _Change(
            event, location_id, entity, str(uuid.uuid4()), iso_ms(self._clock()), drop_contact
        )
        for url in self.urls:
            plan = self._faults.webhook_plan()
            record = DeliveryRecord(change.webhook_id, event, location_id, url)
            self.log.append(record)
            if plan.drop:
                record.status = "dropped"
                self._counts.dropped += 1
                continue
            for _ in range(plan.copies):
                delivery = _Delivery(record, change)
                if plan.delay > 0:
                    self._later(delivery, plan.delay)
                else:
                    self._enqueue(delivery)
        self._start()

    def _outstanding(self) -> int:
        counts = self._counts
        return counts.queued + counts.in_flight + counts.waiting

    def _enqueue(self, delivery: _Delivery) -> None:
        if self._counts.queued >= self._settings.webhook_queue_max:
            self._give_up(delivery, "dropped", "queue full")
            _log.warning(
                "webhook %s (%s) dropped: %d deliveries already queued",
                delivery.record.webhook_id,
                delivery.record.event,
                self._counts.queued,
            )
            return
        location = delivery.change.location_id
        queue = self._queues.get(location)
        if queue is None:
            queue = self._queues[location] = deque()
            self._ring.append(location)
        queue.append(delivery)
        self._counts.queued += 1
        self._idle.clear()
        self._work.set()

    def _later(self, delivery: _Delivery, delay: float) -> None:
        due = self._now() + delay
        heapq.heappush(self._timers, (due, next(self._sequence), delivery))
        self._counts.waiting += 1
        self._idle.clear()
        self._timer_changed.set()

    def _take(self) -> _Delivery | None:
        while self._ring:
            location = self._ring.popleft()
            queue = self._queues[location]
            delivery = queue.popleft()
            if queue:
                self._ring.append(location)
            else:
                del self._queues[location]
            self._counts.queued -= 1
            return delivery
        return None

    def _give_up(
        self, delivery: _Delivery, status: Literal["failed", "dropped"], error: str | None = None
    ) -> None:
        record = delivery.record
        if record.status != "delivered":  # a duplicate copy may have made it
            record.status = status
            if error is not None:
                record.last_error = error
        if status == "failed":
            self._counts.failed += 1
        else:
            self._counts.dropped += 1
        self._settle()

    def _settle(self) -> None:
        if self._outstanding() == 0:
            self._idle.set()

    # -- the senders ----------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic()

    def _start(self) -> None:
        """Start the senders and the timer on the running loop (once per loop)."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the queue waits for the next publish or drain on one
        if self._loop is loop and self._tasks:
            return
        if self._loop is not None and self._loop is not loop:
            # A new loop (a test harness): the old tasks died with theirs; timers carry over.
            self._work, self._timer_changed = asyncio.Event(), asyncio.Event()
            self._idle = asyncio.Event()
            if self._outstanding() == 0:
                self._idle.set()
        self._loop = loop
        timeout = self._settings.webhook_timeout_seconds
        self._connections = [
            Http1Connections(timeout) for _ in range(self._settings.webhook_senders)
        ]
        self._tasks = [loop.create_task(self._sender(c)) for c in self._connections]
        self._tasks.append(loop.create_task(self._timer()))
        if self._queues:
            self._work.set()

    async def _sender(self, connections: Http1Connections) -> None:
        while True:
            delivery = self._take()
            if delivery is None:
                self._work.clear()
                await self._work.wait()
                continue
            self._counts.in_flight += 1
            try:
                await self._attempt(delivery, connections)
            finally:
                self._counts.in_flight -= 1
                self._settle()
            # A fast receiver (or a mock transport) may answer without suspending: yield so
            # the API's requests are served between deliveries.
            await asyncio.sleep(0)

    async def _pace(self) -> None:
        rate = self._settings.webhook_deliveries_per_second
        if rate <= 0:
            return
        now = self._now()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / rate
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _timer(self) -> None:
        while True:
            self._timer_changed.clear()
            if not self._timers:
                await self._timer_changed.wait()
                continue
            wait = self._timers[0][0] - self._now()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._timer_changed.wait(), timeout=wait)
                continue
            _, _, delivery = heapq.heappop(self._timers)
            self._counts.waiting -= 1
            self._enqueue(delivery)
            self._settle()

    def _backoff(self, retry: int) -> float:
        settings = self._settings
        ceiling = min(
            settings.webhook_retry_max_seconds,
            settings.webhook_retry_base_seconds * 2.0 ** (retry - 1),
        )
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], connections: Http1Connections
    ) -> int:
        if self._raw and url.startswith("http://"):
            try:
                return await connections.post(url, body, headers)
            except HttpFailure as exc:
                raise _NoAnswer(exc.reason) from None
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _NoAnswer(type(exc).__name__) from None
        return response.status_code

    async def _attempt(self, delivery: _Delivery, connections: Http1Connections) -> None:
        record = delivery.record
        body, headers = delivery.change.wire(self._signer)
        # Paced after signing, so the pace spaces the sends themselves (a slow first
        # signature would otherwise shorten the first interval).
        await self._pace()
        record.attempts += 1
        record.last_sent_at = datetime.now(UTC)
        try:
            status = await self._post(record.url, body, headers, connections)
        except _NoAnswer as exc:
            record.last_error = exc.reason
            record.last_status_code = None
        else:
            record.last_status_code = status
            if 200 <= status < 300:
                record.status = "delivered"
                record.delivered_at = datetime.now(UTC)
                self._counts.delivered += 1
                self._counts.last_delivered_at = record.delivered_at
                return
        if delivery.retries < self._settings.webhook_max_retries:
            delivery.retries += 1
            self._later(delivery, self._backoff(delivery.retries))
            return
        self._give_up(delivery, "failed")
        _log.warning(
            "webhook %s (%s) to %s failed after %d attempts",
            record.webhook_id,
            record.event,
            record.url,
            record.attempts,
        )

    # -- observing and stopping -----------------------------------------------------------

    @property
    def pending(self) -> int:
        """Deliveries not finished yet: queued, in flight or waiting to retry."""
        return self._outstanding()

    def stats(self) -> dict[str, Any]:
        """Counts for `GET /_admin/webhooks`."""
        counts = self._counts
        last = counts.last_delivered_at
        return {
            "queued": counts.queued,
            "inFlight": counts.in_flight,
            "waiting": counts.waiting,
            "delivered": counts.delivered,
            "failed": counts.failed,
            "dropped": counts.dropped,
            "senders": self._settings.webhook_senders,
            "lastDeliveredAt": iso_ms(last) if last else None,
        }

    async def drain(self) -> None:
        """Wait until every delivery has finished (delivered or given up)."""
        self._start()
        while self._outstanding():
            await self._idle.wait()

    async def aclose(self) -> None:
        """Stop the senders (what is still pending stays undelivered) and close the client."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for connections in self._connections:
            await connections.aclose()
        await self._client.aclose()
