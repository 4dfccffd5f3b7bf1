"""The API's running state: its producer and pool, the outage bookkeeping, the produce path
(`produce`: every outcome collected, a refusing producer replaced) and `republish` for the
commands Kafka did not confirm (see the failure policy in `services/api/app.py`); and the
body parser with its depth limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
import pydantic_core
from aiokafka import AIOKafkaProducer
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter

from services.api.settings import ApiSettings
from services.db.commands import AcceptedRow, WriterStore
from services.platform.batcher import Batcher
from services.platform.connections import kafka_options
from services.platform.outage import (
    DATABASE_ERRORS,
    KAFKA_ERRORS,
    Dependency,
    kafka_client_options,
    stop_quietly,
)
from streams.admin import ensure_topics

__all__ = ["NOT_ON_TOPIC", "ApiState", "TooDeep", "parse_json", "problem"]

_log = logging.getLogger("services.api")

# Concurrent requests wait 1 ms to share a statement, at most 1000 rows in one.
_BATCH_MAX, _BATCH_WAIT = 1000, 0.001


def problem(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


NOT_ON_TOPIC = json.dumps(
    {
        "command_id": "",
        "state": "failed",
        "error": {
            "code": "not_on_topic",
            "message": "Kafka never confirmed the command; it was not applied. Send it again "
            "with a new command_id if it is still wanted.",
        },
        "completed_at": "1970-01-01T00:00:00Z",
    }
)
"""The result of a command that stayed `pending` too long (`command_id`, `command_type` and
`location_id` are filled in by the store; `completed_at` by the SQL below)."""


def _row_key(row: AcceptedRow) -> str:
    # The same key `command_key` gives the command (its contact's lane at the writer).
    if row.contact_id is None:
        return f"{row.location_id}:new:{row.command_id}"
    return f"{row.location_id}:{row.contact_id}"


async def _stop_quietly(producer: AIOKafkaProducer, settings: ApiSettings) -> None:
    # Bounded: while the broker is away, stopping waits for buffered records to expire.
    await stop_quietly(producer, settings.produce_timeout_seconds)


def _retrieve_later(futures: Any) -> None:
    for future in futures:
        future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class TooDeep(ValueError):
    """A JSON body nested deeper than allowed."""


def parse_json(body: bytes, max_depth: int) -> Any:
    """The body as JSON; ValueError when it is not JSON or nests deeper than `max_depth`."""
    value = pydantic_core.from_json(body, allow_inf_nan=False)  # its own recursion limit
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a deep body must not exhaust Python's stack here either
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise TooDeep(f"nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in children)
    return value


class ApiState:
    """What the app holds while it runs: producer, pool, store, batcher, metrics."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.topic = settings.topics.commands
        self.producer: AIOKafkaProducer | None = None
        self.pool: asyncpg.Pool | None = None
        self.store: WriterStore | None = None
        self.recorder: Batcher[AcceptedRow, str | None] = Batcher(
            self._record, max_items=_BATCH_MAX, wait=_BATCH_WAIT
        )
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "ghl_sync_api_commands_accepted", "Commands accepted", registry=self.registry
        )
        self.refused = Counter(
            "ghl_sync_api_commands_refused", "Commands refused", ["code"], registry=self.registry
        )
        self.republished = Counter(
            "ghl_sync_api_commands_republished",
            "Pending commands produced again and confirmed by Kafka",
            registry=self.registry,
        )
        self.unproduced = Counter(
            "ghl_sync_api_commands_not_on_topic",
            "Pending commands that Kafka never confirmed, made failed",
            registry=self.registry,
        )
        self.keys = [
            k.get_secret_value().encode() for k in settings.api_keys if k.get_secret_value()
        ]
        self.postgres = Dependency("postgres", log=_log)
        self.kafka = Dependency("kafka", log=_log)
        self.produced: Batcher[str, None] = Batcher(
            self._mark_produced, max_items=_BATCH_MAX, wait=_BATCH_WAIT
        )
        self._connecting: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    async def _start_producer(self) -> AIOKafkaProducer:
        s = self.settings
        await ensure_topics(s.kafka, [self.topic], partitions=s.topic_partitions)
        producer = AIOKafkaProducer(
            **kafka_options(s.kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=256 * 1024,
            # A record not acked by then is refused (503) anyway; expiring it then, rather
            # than after aiokafka's 40 s, frees the producer (it is replaced: `_retire`).
            request_timeout_ms=max(1000, int(s.produce_timeout_seconds * 1000)),
            **kafka_client_options(),
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
            raise
        return producer

    async def connect(self) -> None:
        """Start a producer, waiting out an outage with backoff."""
        try:  # the common case: Kafka is up, and the API is ready when it starts serving
            self.producer = await self._start_producer()
            self.kafka.restored()
        except KAFKA_ERRORS as exc:
            self.kafka.lost(exc)
            await self.kafka.pause()
            self.producer = await self.kafka.wait_for(self._start_producer)

    def _retire(self, producer: AIOKafkaProducer, why: BaseException) -> None:
        # A batch that expired while the broker was away leaves a gap in an idempotent
        # producer's sequence numbers: the broker answers OutOfOrderSequenceNumber to every
        # later batch and aiokafka's sender stops. A new producer (new id) starts clean.
        if self.producer is not producer:
            return
        self.producer = None
        _log.warning("Kafka refused records (%s); replacing the producer", type(why).__name__)
        stopping = asyncio.create_task(_stop_quietly(producer, self.settings))
        self._retiring.add(stopping)
        stopping.add_done_callback(self._retiring.discard)
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self.connect())

    async def close_producers(self) -> None:
        """Stop connecting, and stop every producer (bounded)."""
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.producer is not None:
            await _stop_quietly(self.producer, self.settings)
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def _record(self, rows: Sequence[AcceptedRow]) -> list[str | None]:
        assert self.store is not None
        existing = await self.store.record_accepted(rows)
        return [existing.get(r.command_id) for r in rows]

    async def _mark_produced(self, ids: Sequence[str]) -> list[None]:
        assert self.store is not None
        await self.store.mark_produced(ids)
        return [None] * len(ids)

    def unavailable(self, *needs: str) -> JSONResponse | None:
        """503 + Retry-After when a dependency the route needs is away, else None."""
        for name in needs:
            dependency = self.postgres if name == "postgres" else self.kafka
            connected = self.pool is not None if name == "postgres" else self.producer is not None
            if not connected or not dependency.up:
                why = dependency.reason or "connecting"
                return problem(
                    503,
                    "unavailable",
                    f"{name} unavailable ({why}); retry",
                    **{"Retry-After": str(dependency.retry_after())},
                )
        return None

    async def produce(self, items: Sequence[tuple[bytes, bytes]]) -> BaseException | None:
        """Send (key, value) records and wait for Kafka's acks, at most the produce timeout;
        None when every one was confirmed, else what went wrong."""
        producer = self.producer
        if producer is None:
            return ConnectionError("not connected to Kafka")
        futures: list[asyncio.Future[Any]] = []
        try:
            for key, value in items:
                futures.append(await producer.send(self.topic, value, key=key))
        except KAFKA_ERRORS as exc:
            _retrieve_later(futures)
            self.kafka.lost(exc)
            return exc
        done, waiting = await asyncio.wait(futures, timeout=self.settings.produce_timeout_seconds)
        # Every outcome is collected, now or when it arrives: none is "never retrieved".
        _retrieve_later(waiting)
        failures = [f.exception() for f in done if f.exception() is not None]
        if failures:
            self._retire(producer, failures[0])  # type: ignore[arg-type]
            return failures[0]
        if waiting:
            timeout = TimeoutError(
                f"Kafka did not confirm within {self.settings.produce_timeout_seconds:g}s"
            )
            self.kafka.lost(timeout)
            return timeout
        return None

    async def republish(self) -> None:
        """Produce `pending` commands again (Kafka did not confirm them when first sent), and
        fail those pending past `pending_expiry_seconds`; every `pending_retry_seconds`."""
        s = self.settings
        while True:
            await asyncio.sleep(s.pending_retry_seconds)
            if self.store is None or self.producer is None or not self.kafka.up:
                continue
            try:
                await self._republish_once()
            except DATABASE_ERRORS as exc:
                self.postgres.lost(exc)

    async def _republish_once(self) -> None:
        s = self.settings
        assert self.store is not None
        expired = await self.store.fail_unproduced(
            older_than=s.pending_expiry_seconds, result_json=NOT_ON_TOPIC
        )
        if expired:
            self.unproduced.inc(len(expired))
            _log.warning(
                "%d commands Kafka never confirmed within %.0fs are now failed (not_on_topic): "
                "%s", len(expired), s.pending_expiry_seconds, ", ".join(expired[:10]),
            )  # fmt: skip
        rows = await self.store.pending(
            older_than=s.produce_timeout_seconds + s.pending_retry_seconds, limit=500
        )
        if not rows:
            return
        failure = await self.produce(
            [(_row_key(r).encode(), r.command_json.encode()) for r in rows]
        )
        if failure is not None:
            return
        await self.store.mark_produced([r.command_id for r in rows])
        self.republished.inc(len(rows))
        _log.info("%d pending commands produced again and confirmed by Kafka", len(rows))
