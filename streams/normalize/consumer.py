"""The normalize consumer: `ghl.raw.v1` -> `ghl.events.v1` (key `location_id:contact_id`).

Like the projection consumer, it is an aiokafka consumer hosted by the Faust worker
(`register_normalize`), not a Faust agent: Faust acknowledges a `take` batch even when the
body raised, and here offsets must be committed only after the batch's events are on Kafka.

Each batch (up to `batch_size` records, waiting up to `batch_wait` for more, which is what
coalesces bursts): decode every record, group by entity, resolve the groups concurrently
(one fetch each), produce the events with an idempotent `acks=all` producer, wait for every
ack, then commit the batch's offsets. A crash before the commit re-processes the batch:
the same state gives the same event ids, so consumers see harmless duplicates.

Failure policy:
- bad data (not a raw record, not a webhook we can read, a group whose contact nobody names,
  GHL rejecting the fetch as invalid): dead-lettered to `ghl.raw.dlq.v1` with the reason;
- GHL unavailable, rate-limited or refusing the token: the group is retried with backoff
  (pause and retry), holding the batch;
- anything else is a bug: it propagates, the worker stops, and a restart re-reads the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import Event, encode_event
from services.ghl import GhlError, ValidationFailed
from streams.normalize.fetcher import GhlFetcher
from streams.normalize.mapping import (
    Decoded,
    Invalid,
    MissingContact,
    Skipped,
    Work,
    coalesce,
    decode,
    resolve,
)
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["FetcherFactory", "NormalizeConsumer", "NormalizeStats", "register_normalize"]

log = logging.getLogger(__name__)

FetcherFactory = Callable[[], contextlib.AbstractAsyncContextManager[GhlFetcher]]
"""Opens a fetcher for the consumer's lifetime (and closes its client afterwards)."""


@dataclass
class NormalizeStats:
    """Running totals."""

    records: int = 0
    events: int = 0
    fetch_groups: int = 0
    dead_letters: int = 0
    skipped: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class _Letter:
    position: int
    reason: str


class NormalizeConsumer:
    """Consumes the raw topic until cancelled."""

    def __init__(
        self,
        settings: StreamsSettings,
        fetcher: GhlFetcher,
        *,
        group_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        concurrency: int = 16,
        retry_backoff_max: float | None = None,
    ) -> None:
        self._s = settings
        self.topics = topic_names(settings)
        self._fetcher = fetcher
        self._group_id = group_id or f"{settings.app_id}-normalize"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._limit = asyncio.Semaphore(concurrency)
        self._backoff_max = retry_backoff_max or settings.retry_backoff_max
        self.stats = NormalizeStats()

    async def run(self) -> None:
        """Consume until cancelled."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self._s.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )
        consumer = AIOKafkaConsumer(
            self.topics.raw,
            bootstrap_servers=self._s.kafka_bootstrap_servers,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await producer.start()
        await consumer.start()
        try:
            while True:
                fetched = await consumer.getmany(
                    timeout_ms=int(self._s.batch_wait * 1000), max_records=self._s.batch_size
                )
                records = [r for batch in fetched.values() for r in batch]
                if not records:
                    continue
                await self.process(records, producer)
                await consumer.commit(
                    {
                        TopicPartition(tp.topic, tp.partition): batch[-1].offset + 1
                        for tp, batch in fetched.items()
                        if batch
                    }
                )
        finally:
            await consumer.stop()
            await producer.stop()

    async def process(self, records: Sequence[Any], producer: AIOKafkaProducer) -> None:
        """Turn one batch of raw records into events and dead letters, all acknowledged."""
        self.stats.records += len(records)
        decoded: list[Decoded] = []
        letters: list[_Letter] = []
        for position, r in enumerate(records):
            item = decode(r.value, r.key, r.headers, position)
            if isinstance(item, Invalid):
                letters.append(_Letter(position, item.reason))
            elif isinstance(item, Skipped):
                self.stats.skipped += 1
                log.debug("skipped webhook type=%s offset=%d", item.event_type, r.offset)
            else:
                decoded.append(item)
        groups = coalesce(decoded)
        self.stats.fetch_groups += len(groups)
        outcomes = await asyncio.gather(*(self._resolve(g, records) for g in groups))
        futures = []
        for events, group_letters in outcomes:
            letters.extend(group_letters)
            for event in events:
                futures.append(
                    await producer.send(
                        self.topics.events, value=encode_event(event), key=event.key.encode()
                    )
                )
        for letter in letters:
            futures.append(await self._dead_letter(producer, records[letter.position], letter))
        # Offsets are committed by the caller only after every record of the batch is acked.
        await asyncio.gather(*futures)
        self.stats.events += sum(len(events) for events, _ in outcomes)
        self.stats.dead_letters += len(letters)

    async def _resolve(
        self, work: Work, records: Sequence[Any]
    ) -> tuple[list[Event], list[_Letter]]:
        delay = 0.2
        while True:
            try:
                async with self._limit:
                    return await resolve(work, self._fetcher, self._clock), []
            except MissingContact as exc:
                return [], [_Letter(p, f"unresolvable: {exc}") for p in work.positions]
            except ValidationFailed as exc:
                return [], [_Letter(p, f"GHL rejected the fetch: {exc}") for p in work.positions]
            except GhlError as exc:
                first = records[work.items[0].position]
                self.stats.retries += 1
                log.warning(
                    "fetch failed, retrying in %.1fs: topic=%s partition=%d offset=%d "
                    "entity=%s/%s error=%s",
                    delay, first.topic, first.partition, first.offset, work.kind,
                    work.entity_id, exc,
                )  # fmt: skip
                wait = max(delay, float(getattr(exc, "retry_after", 0.0) or 0.0))
                await asyncio.sleep(wait)
                delay = min(delay * 2, self._backoff_max)

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: Any, letter: _Letter
    ) -> asyncio.Future[Any]:
        log.error(
            "dead-lettered raw record topic=%s partition=%d offset=%d reason=%s",
            record.topic, record.partition, record.offset, letter.reason,
        )  # fmt: skip
        headers = [
            *(record.headers or ()),
            ("x-dead-letter-reason", letter.reason.encode()),
            ("x-source-topic", record.topic.encode()),
            ("x-source-partition", str(record.partition).encode()),
            ("x-source-offset", str(record.offset).encode()),
        ]
        future: asyncio.Future[Any] = await producer.send(
            self.topics.raw_dead_letters, value=record.value or b"", key=record.key, headers=headers
        )
        return future


def register_normalize(
    app: faust.App,
    settings: StreamsSettings,
    *,
    fetcher_factory: FetcherFactory | None = None,
) -> None:
    """Host the normalize consumer in the Faust worker `app`.

    Without `fetcher_factory` it reads `GhlSettings` from the environment and builds the GHL
    client with PostgreSQL-backed tokens and rate limits (the worker has no other place to
    receive them yet: `build_worker_app` takes only the streams settings).
    """
    factory = fetcher_factory or _default_fetcher(settings)

    async def run_normalize() -> None:
        async with factory() as fetcher:
            await NormalizeConsumer(settings, fetcher).run()

    app.task(run_normalize)


def _default_fetcher(settings: StreamsSettings) -> FetcherFactory:
    @contextlib.asynccontextmanager
    async def open_fetcher() -> AsyncIterator[GhlFetcher]:
        import asyncpg

        from services.ghl import GhlSettings, build_client, build_rate_limiter, build_token_provider
        from streams.normalize.fetcher import ClientFetcher

        ghl = GhlSettings()
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=4,
            server_settings={"search_path": settings.database_schema},
        )
        try:
            client = build_client(
                ghl,
                token_provider=build_token_provider(ghl, pool=pool),
                rate_limiter=build_rate_limiter(ghl, pool=pool),
            )
            async with client:
                yield ClientFetcher(client)
        finally:
            await pool.close()

    return open_fetcher
