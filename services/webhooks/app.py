"""The webhook receiver: an ASGI app that verifies, deduplicates and persists GHL deliveries.

One POST at `settings.path`, checked in this order (the first failure answers):

| check                                   | answer |
|-----------------------------------------|--------|
| body over `max_body_bytes`              | 413    |
| no `X-GHL-Signature`/`X-WH-Signature`   | 401 `missing_signature` |
| signature does not verify               | 401 `bad_signature` |
| body not JSON / not an object           | 400 `malformed_json` / `not_an_object` |
| `timestamp` missing / unreadable        | 400 `missing_timestamp` / `bad_timestamp` |
| `timestamp` outside the window          | 401 `stale_timestamp` / `future_timestamp` |
| `webhookId` already persisted           | 200 `duplicate` (dropped) |
| `webhookId` being persisted elsewhere   | 429 |
| Kafka did not confirm                   | 429 + `Retry-After` |
| written to `ghl.raw.v1`, acks=all       | 200 `accepted` |

Why 429 when persisting fails: GHL's current policy (WH-GUIDE, 2026-08) retries any non-2xx up
to 12 times, but its 2025-10 edition retried *only* 429; 429 is retried under both. A 2xx is
never sent for a delivery Kafka has not confirmed. Every rejection is counted
(`ghl_sync_webhooks_rejected_total{reason}`) and logged with its reason, the peer and the body
size; never the body, a header value or the database URL.

Failure policy: Kafka down -> 429 (GHL retries; the poller covers what GHL gives up on);
PostgreSQL down -> persist without the replay check (a duplicate raw record is harmless,
normalize is idempotent), counted as `ghl_sync_webhooks_dedupe_unavailable_total`. Either
outage follows `services.platform.outage`: the receiver stays up, `/readyz` answers 503 naming the
dependency, one log line when it goes and one when it is back (per-delivery failures are
counted in `/metrics`, not logged), and reconnects are paced by a capped, jittered backoff
(one attempt per interval, however many deliveries arrive).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pydantic_core
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas import parse_ghl_time
from schemas.raw import RawDelivery, raw_key, webhook_id_of
from services.platform.outage import Dependency, probe_pool, watch
from services.platform.pools import open_pool
from services.webhooks._metrics import ReceiverMetrics
from services.webhooks._receipts import Claim, PostgresReceiptStore, ReceiptStore
from services.webhooks._signature import SignatureVerifier
from services.webhooks._sink import KafkaRawSink, RawSink
from services.webhooks.exceptions import ReceiptStoreError, SinkUnavailable
from services.webhooks.settings import WebhookSettings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_PRUNE_EVERY = 600.0


class _Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    retry_after: bool = False


def _json(**fields: str) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()


_ACCEPTED = _Answer(200, _json(status="accepted"))
_DUPLICATE = _Answer(200, _json(status="duplicate"))
_RETRY = {
    reason: _Answer(429, _json(status="retry", reason=reason), retry_after=True)
    for reason in ("in_flight", "kafka")
}


def _raw_topic(settings: WebhookSettings) -> str:
    # The same name streams.topics gives it; kept here so the receiver needs no Faust import.
    return f"{settings.topic_prefix}ghl.raw.v1"


@dataclass(eq=False)
class _Receiver:
    """What handling a delivery needs: the settings, the sink, the receipts, the metrics."""

    s: WebhookSettings
    _: KW_ONLY
    sink: RawSink
    receipts: ReceiptStore | None
    metrics: ReceiverMetrics
    clock: Callable[[], datetime]
    verifier: SignatureVerifier = field(init=False)
    retry_after: bytes = field(init=False)
    postgres: Dependency = field(init=False)

    def __post_init__(self) -> None:
        self.verifier = SignatureVerifier(self.s)
        self.retry_after = str(self.s.retry_after_seconds).encode()
        self.postgres = Dependency("postgres", log=log)

    async def read_body(self, declared: str | None, chunks: AsyncIterator[bytes]) -> bytes:
        if declared is not None and declared.isdigit() and int(declared) > self.s.max_body_bytes:
            raise _Rejected(413, "body_too_large")
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.s.max_body_bytes:
                raise _Rejected(413, "body_too_large")
            parts.append(chunk)
        return b"".join(parts)

    def check_time(self, data: dict[str, Any], now: datetime) -> None:
        stamp = data.get("timestamp")
        if stamp is None:
            if self.s.require_timestamp:
                raise _Rejected(400, "missing_timestamp")
            return
        try:
            sent = parse_ghl_time(stamp)
        except ValueError:
            raise _Rejected(400, "bad_timestamp") from None
        if sent < now - timedelta(seconds=self.s.max_age_seconds):
            raise _Rejected(401, "stale_timestamp")
        if sent > now + timedelta(seconds=self.s.max_future_seconds):
            raise _Rejected(401, "future_timestamp")

    async def answer(
        self, headers: dict[str, str], chunks: AsyncIterator[bytes], peer: str
    ) -> _Answer:
        """The answer to one delivery; rejections are counted and logged here."""
        try:
            return await self._handle(headers, chunks)
        except _Rejected as rejected:
            self.metrics.rejected.labels(rejected.reason).inc()
            log.warning(
                "webhook rejected: status=%d reason=%s peer=%s bytes=%s",
                rejected.status, rejected.reason, peer, headers.get("content-length"),
            )  # fmt: skip
            return _Answer(rejected.status, _json(status="rejected", reason=rejected.reason))

    async def _handle(self, headers: dict[str, str], chunks: AsyncIterator[bytes]) -> _Answer:
        started = time.perf_counter()
        received_at = self.clock()
        body = await self.read_body(headers.get("content-length"), chunks)
        check = self.verifier.verify(body, headers)
        if not check.ok:
            raise _Rejected(401, check.reason)
        try:
            data = pydantic_core.from_json(body, allow_inf_nan=False)
        except ValueError:
            raise _Rejected(400, "malformed_json") from None
        if not isinstance(data, dict):
            raise _Rejected(400, "not_an_object")
        self.check_time(data, received_at)

        delivery = RawDelivery(
            body=body,
            received_at=received_at,
            webhook_id=webhook_id_of(body, data),
            key=raw_key(data),
            signature_scheme=check.scheme,
            signature=check.signature,
        )
        token = uuid.uuid4()
        claimed = await self._claim(delivery, token)
        if claimed is Claim.DUPLICATE:
            self.metrics.duplicates.inc()
            return _DUPLICATE
        if claimed is Claim.IN_FLIGHT:
            self.metrics.not_persisted.labels("in_flight").inc()
            return _RETRY["in_flight"]
        try:
            written = await self.sink.write(delivery)
        except SinkUnavailable as exc:
            # Counted, not logged per delivery: the sink logs the outage once.
            self.metrics.not_persisted.labels("kafka").inc()
            log.debug(
                "webhook not persisted, answering 429: webhook_id=%s type=%s error=%s",
                delivery.webhook_id, data.get("type"), exc,
            )  # fmt: skip
            if claimed is Claim.OWNED and self.receipts is not None:
                with contextlib.suppress(ReceiptStoreError):
                    await self.receipts.release(delivery.webhook_id, token)
            return _RETRY["kafka"]
        if claimed is Claim.OWNED and self.receipts is not None:
            try:
                await self.receipts.confirm(
                    delivery.webhook_id, token, partition=written.partition, offset=written.offset
                )
            except ReceiptStoreError as exc:
                # Kafka holds the record, so the answer is still 2xx; the unconfirmed claim
                # expires and a redelivery becomes a harmless duplicate.
                self.postgres.lost(exc)
        self.metrics.accepted.inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return _ACCEPTED

    async def _claim(self, delivery: RawDelivery, token: uuid.UUID) -> Claim | None:
        if self.receipts is None:
            return None
        if not self.postgres.may_try():
            # Known away: persist without the replay check, and reconnect once per backoff
            # interval rather than once per delivery.
            self.metrics.dedupe_unavailable.inc()
            return None
        try:
            claimed = await self.receipts.claim(delivery.webhook_id, token)
        except ReceiptStoreError as exc:
            self.metrics.dedupe_unavailable.inc()
            self.postgres.lost(exc)  # logged once per outage; persisting anyway
            return None
        self.postgres.restored()
        return claimed


class _Disconnected(Exception):
    """The client went away before its body arrived: nobody is left to answer."""


class _DeliveryEndpoint:
    """The POST path as plain ASGI, in front of FastAPI's routing.

    The receiver's hot path: FastAPI's request and response objects and its router cost more
    CPU than verifying the signature, so deliveries skip them. Everything else (`/metrics`,
    `/healthz`, any other method or path) goes on to the FastAPI app.
    """

    def __init__(self, app: ASGIApp, *, receiver: _Receiver, path: str) -> None:
        self.app = app
        self.receiver = receiver
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        client = scope.get("client")
        peer = client[0] if client else "-"
        try:
            answer = await self.receiver.answer(headers, _body_chunks(receive), peer)
        except _Disconnected:
            return
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer.body)).encode()),
        ]
        if answer.retry_after:
            response_headers.append((b"retry-after", self.receiver.retry_after))
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": answer.body})


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def create_app(
    settings: WebhookSettings,
    *,
    sink: RawSink | None = None,
    receipts: ReceiptStore | None = None,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The receiver. Without `sink`/`receipts` it builds the Kafka sink and the PostgreSQL
    receipt store from `settings` when it starts (lifespan), and closes them on shutdown."""
    metrics = ReceiverMetrics(registry or CollectorRegistry())
    owned_sink = sink is None
    receiver = _Receiver(
        settings,
        sink=sink
        or KafkaRawSink(
            settings.kafka,
            _raw_topic(settings),
            timeout=settings.produce_timeout_seconds,
            partitions=settings.topic_partitions,
        ),
        receipts=receipts,
        metrics=metrics,
        clock=clock or (lambda: datetime.now(UTC)),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool: asyncpg.Pool | None = None
        pruner: asyncio.Task[None] | None = None
        watchers: list[asyncio.Task[None]] = []
        if isinstance(receiver.sink, KafkaRawSink):
            watchers.append(asyncio.create_task(watch(receiver.sink.kafka, receiver.sink.probe)))
        if receipts is None:
            # min_size=0: no connection at start, so the receiver comes up without PostgreSQL.
            pool = await open_pool(
                settings.database_url,
                schema=settings.database_schema,
                max_size=10,
                server_settings={"synchronous_commit": settings.receipts_synchronous_commit},
            )
            store = PostgresReceiptStore(pool, lease_seconds=settings.claim_lease_seconds)
            receiver.receipts = store
            pruner = asyncio.create_task(_prune_forever(store, settings))

            async def probe_postgres() -> None:
                assert pool is not None
                await probe_pool(pool)

            watchers.append(asyncio.create_task(watch(receiver.postgres, probe_postgres)))
        try:
            yield
        finally:
            for task in [*watchers, *([pruner] if pruner else [])]:
                task.cancel()
            await asyncio.gather(*watchers, *([pruner] if pruner else []), return_exceptions=True)
            if owned_sink:
                await receiver.sink.aclose()
            if pool is not None:
                await pool.close()

    app = FastAPI(title="ghl-sync webhook receiver", lifespan=lifespan)
    app.state.receiver = receiver

    app.add_middleware(_DeliveryEndpoint, receiver=receiver, path=settings.path)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    @app.get("/livez")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def ready() -> Response:
        dependencies = [receiver.postgres] if receiver.receipts is not None else []
        if isinstance(receiver.sink, KafkaRawSink):
            dependencies.append(receiver.sink.kafka)
        failing = {d.name: d.reason for d in dependencies if not d.up}
        if not failing:
            return Response(_json(status="ready"), media_type="application/json")
        body = json.dumps({"status": "not ready", "failing": sorted(failing), "reasons": failing})
        return Response(body, status_code=503, media_type="application/json",
                        headers={"Retry-After": str(settings.retry_after_seconds)})  # fmt: skip

    return app


async def _prune_forever(store: PostgresReceiptStore, settings: WebhookSettings) -> None:
    # An id older than the timestamp window can only come back as a stale (rejected) delivery.
    keep = max(
        settings.receipt_retention_seconds,
        settings.max_age_seconds + settings.max_future_seconds + settings.claim_lease_seconds,
    )
    while True:
        await asyncio.sleep(_PRUNE_EVERY)
        try:
            await store.prune(keep)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("pruning webhook receipts failed: %s", type(exc).__name__)
