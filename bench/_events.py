"""Producing a realistic stream of canonical events onto a topic, for benchmarks and tests."""

from __future__ import annotations

from collections.abc import Iterator

from aiokafka import AIOKafkaProducer

from schemas import Event, encode_event
from tests.factories import history


def event_stream(total: int, *, seed: int = 1, contacts_per_history: int = 50) -> Iterator[Event]:
    """About `total` events: contact, task, note and appointment snapshots and deletions.

    Histories of `contacts_per_history` contacts are generated with different seeds and
    distinct contact ids until `total` events exist.
    """
    produced, round_ = 0, 0
    while produced < total:
        rows = history(seed * 1_000_003 + round_, contacts=contacts_per_history,
                       prefix=f"r{round_}-")
        for event in rows:
            if produced >= total:
                return
            yield event
            produced += 1
        round_ += 1


async def produce(bootstrap: str, topic: str, events: list[bytes], keys: list[bytes]) -> None:
    """Send encoded events with their keys, acks=all, and wait for every confirmation."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
        max_batch_size=1 << 20, compression_type=None,
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key) for value, key in zip(events, keys, strict=True)]
        for future in pending:
            await future
    finally:
        await producer.stop()


def encoded(events: list[Event]) -> tuple[list[bytes], list[bytes]]:
    """Values and keys of events as they travel on the topic."""
    return [encode_event(e) for e in events], [e.key.encode() for e in events]
