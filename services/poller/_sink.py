"""Producing canonical events straight to `ghl.events.v1` (idempotent, `acks=all`).

The poller and the backfill read full snapshots, so there is nothing for normalize to add;
writing them to `ghl.raw` would only add a second record format.

`start` creates the topic when it is missing (explicit partitions, never expired:
`streams.admin.FOREVER`), so a poller or backfill started before the worker never leaves the
event log to the broker's auto-creation defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import Event, encode_event
from services.platform.connections import KafkaSettings, kafka_options
from services.platform.outage import kafka_client_options
from streams.admin import FOREVER, ensure_topics

__all__ = ["EventSink"]


class EventSink:
    """Sends events and waits until the broker confirmed all of them."""

    def __init__(self, kafka: KafkaSettings | str, topic: str, *, partitions: int = 6) -> None:
        self._kafka = kafka
        self._topic = topic
        self._partitions = partitions
        self._producer = AIOKafkaProducer(
            **kafka_options(kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            **kafka_client_options(),
        )

    async def start(self) -> None:
        """Create the topic if it is missing, then connect."""
        await ensure_topics(self._kafka, [self._topic], partitions=self._partitions, config=FOREVER)
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    async def probe(self) -> None:
        """Ask the broker for metadata over the producer's connection (raises when away)."""
        await self._producer.client.fetch_all_metadata()

    async def emit(self, events: Iterable[Event]) -> int:
        """Send every event; returns how many, once all are acknowledged."""
        futures: list[asyncio.Future[Any]] = []
        for event in events:
            futures.append(
                await self._producer.send(
                    self._topic, value=encode_event(event), key=event.key.encode()
                )
            )
        await asyncio.gather(*futures)
        return len(futures)
