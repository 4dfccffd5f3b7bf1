"""Writing deliveries to `ghl.raw.v1`: an idempotent producer with `acks=all`.

`write` returns only after the broker confirmed the record, or raises `SinkUnavailable`
within `produce_timeout_seconds`. The producer is started lazily, so the receiver starts (and
answers 429) while Kafka is down, and recovers without a restart when it comes back.

While Kafka is away (`services.platform.outage`) the sink tries to reconnect at most once per
backoff interval (capped at a few seconds, jittered), whatever the rate of deliveries; the
others fail fast with `SinkUnavailable`. Its `Dependency` logs one line when Kafka goes and
one when it is back.

Before its first record the sink creates the topic when it is missing, with its partition
count and a retention that never expires (`streams.admin.FOREVER`): were the broker to
auto-create it on the first produce, it would get the broker's defaults (one partition, a
week's retention), and the raw log would silently lose history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.raw import RawDelivery
from services.platform.connections import KafkaSettings, kafka_options
from services.platform.outage import Dependency, kafka_client_options, stop_quietly
from services.webhooks.exceptions import SinkUnavailable
from streams.admin import FOREVER, ensure_topics

__all__ = ["KafkaRawSink", "RawSink", "Written"]


@dataclass(frozen=True, slots=True)
class Written:
    """Where the broker stored a record."""

    partition: int
    offset: int


class RawSink(Protocol):
    """Where verified deliveries go."""

    async def write(self, delivery: RawDelivery) -> Written:
        """Persist one delivery; raise `SinkUnavailable` when it could not be confirmed."""
        ...

    async def aclose(self) -> None:
        """Flush and stop."""
        ...


class KafkaRawSink:
    """`RawSink` on a Kafka topic."""

    def __init__(
        self,
        kafka: KafkaSettings | str,
        topic: str,
        *,
        timeout: float,
        partitions: int,
        dependency: Dependency | None = None,
    ) -> None:
        self.kafka = dependency or Dependency("kafka", log=logging.getLogger(__name__))
        self._kafka = kafka
        self._topic = topic
        self._timeout = timeout
        self._partitions = partitions
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                try:
                    await asyncio.wait_for(
                        ensure_topics(
                            self._kafka,
                            [self._topic],
                            partitions=self._partitions,
                            config=FOREVER,
                        ),
                        self._timeout,
                    )
                except (KafkaError, OSError, TimeoutError) as exc:
                    self.kafka.lost(exc)
                    raise SinkUnavailable(f"Kafka unreachable: {type(exc).__name__}") from exc
                producer = AIOKafkaProducer(
                    **kafka_options(self._kafka),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=1,
                    request_timeout_ms=max(1000, int(self._timeout * 1000)),
                    **kafka_client_options(),
                )
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except (KafkaError, OSError, TimeoutError) as exc:
                    self.kafka.lost(exc)
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise SinkUnavailable(f"Kafka unreachable: {type(exc).__name__}") from exc
                self._producer = producer
        return self._producer

    async def write(self, delivery: RawDelivery) -> Written:
        """Send and wait for the broker's ack (all in-sync replicas)."""
        if not self.kafka.up and not self.kafka.may_try():
            # Known away: answer at once rather than hold every delivery for the timeout.
            raise SinkUnavailable(f"Kafka unreachable ({self.kafka.reason})")
        producer = await self._started()
        # Not wait_for: cancelling aiokafka's send mid-way is not supported; an abandoned
        # send may still land, which only makes a harmless duplicate after GHL's retry.
        task = asyncio.ensure_future(self._send(producer, delivery))
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if not done:
            task.add_done_callback(_swallow)
            self.kafka.lost("Kafka did not confirm in time")
            raise SinkUnavailable("Kafka did not confirm in time")
        try:
            written = task.result()
        except (KafkaError, OSError) as exc:
            self.kafka.lost(exc)
            self._retire(producer)
            raise SinkUnavailable(f"Kafka refused the record: {type(exc).__name__}") from exc
        self.kafka.restored()
        return written

    async def probe(self) -> bool:
        """Ask the broker for metadata (raises when unreachable); starts the producer when
        there is none, which is the reconnect while no delivery arrives."""
        if self._producer is None:
            if not self.kafka.up and not self.kafka.may_try():
                return False
            try:
                await self._started()
            except SinkUnavailable as exc:
                raise ConnectionError(str(exc)) from exc
        producer = self._producer
        if producer is None:
            return False
        await producer.client.fetch_all_metadata()
        return True

    def _retire(self, producer: AIOKafkaProducer) -> None:
        # A failed send can leave an idempotent producer unusable for good: a batch that
        # expired while the broker was away leaves a gap in its sequence numbers, the broker
        # answers OutOfOrderSequenceNumber to every later batch, and aiokafka's sender stops.
        # The next write starts a new producer (a new producer id, fresh sequences); the old
        # one is stopped in the background, since stopping waits for its buffer to drain.
        if self._producer is not producer:
            return  # another failed write retired it already
        self._producer = None
        task = asyncio.create_task(_stop_quietly(producer, self._timeout))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _send(self, producer: AIOKafkaProducer, delivery: RawDelivery) -> Written:
        metadata: Any = await producer.send_and_wait(
            self._topic,
            value=delivery.body,
            key=delivery.key.encode(),
            headers=delivery.headers(),
            timestamp_ms=delivery.timestamp_ms,
        )
        return Written(partition=int(metadata.partition), offset=int(metadata.offset))

    async def aclose(self) -> None:
        """Stop the producer (flushing what is buffered)."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()
        await asyncio.gather(*self._retiring, return_exceptions=True)


async def _stop_quietly(producer: AIOKafkaProducer, within: float) -> None:
    await stop_quietly(producer, within)


def _swallow(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
