"""Reading `ghl.events` as a downstream consumer does: every partition, no consumer group,
each record decoded by `schemas.decode_event` (the closed registry, old schema versions
upcast), bad records reported as values with their reason, never raised."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import Event, EventDecodeError, decode_event
from services.platform.connections import KafkaSettings, kafka_options
from streams.admin import partitions_of

__all__ = ["EventFilter", "TailedRecord", "format_text", "tail_events"]


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """Which events to show; an empty collection lets everything through."""

    event_types: Collection[str] = ()
    locations: Collection[str] = ()
    contacts: Collection[str] = ()

    def matches(self, event: Event) -> bool:
        """Whether `event` passes every given filter."""
        return (
            (not self.event_types or event.event_type in self.event_types)
            and (not self.locations or event.location_id in self.locations)
            and (not self.contacts or event.contact_id in self.contacts)
        )


@dataclass(frozen=True)
class TailedRecord:
    """One record of the topic: its place, and the event or why it is not one."""

    partition: int
    offset: int
    event: Event | EventDecodeError


def format_text(record: TailedRecord) -> str:
    """One line: when we observed it, type, location/contact, entity, source, event id."""
    e = record.event
    if isinstance(e, EventDecodeError):
        return f"p{record.partition}@{record.offset}  not an event: {e.reason}"
    return (
        f"{e.observed_at.isoformat()}  {e.event_type:<20} {e.location_id}/{e.contact_id}"
        f"  {e.entity_type} {e.entity_id}  source={e.source}  event={e.event_id}"
    )


async def tail_events(
    bootstrap_servers: KafkaSettings | str,
    topic: str,
    *,
    from_beginning: bool = False,
    only: EventFilter | None = None,
    stop_at_end: bool = False,
) -> AsyncIterator[TailedRecord]:
    """Records of `topic` from its end (or beginning) on, filtered; with `stop_at_end`, stop
    when every partition's end at the start has been read. Records that do not decode pass
    every filter (so nothing bad is hidden)."""
    consumer = AIOKafkaConsumer(**kafka_options(bootstrap_servers, enable_auto_commit=False))
    await consumer.start()
    try:
        partitions = await partitions_of(bootstrap_servers, topic)
        if not partitions:
            servers = getattr(bootstrap_servers, "bootstrap_servers", bootstrap_servers)
            raise ValueError(f"topic {topic!r} does not exist on {servers}")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        ends: dict[TopicPartition, int] = {}
        remaining: set[TopicPartition] = set()
        if stop_at_end:
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps) if from_beginning else ends
            remaining = {tp for tp in tps if starts[tp] < ends[tp]}
        while remaining or not stop_at_end:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for r in records:
                    if stop_at_end and r.offset >= ends[tp]:
                        continue
                    event = decode_event(r.value or b"")
                    if isinstance(event, EventDecodeError) or only is None or only.matches(event):
                        yield TailedRecord(r.partition, r.offset, event)
                    if stop_at_end and r.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
