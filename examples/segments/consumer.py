"""The segments consumer: its own consumer group on `ghl.events.v1`, decoding every record
through ghl-sync's closed registry (`schemas.decode_event`, old versions upcast), routing
contact events with `Router`, and handing each routing to a callback.

Run it against the local stack:

    .venv/bin/python -m examples.segments.consumer --bootstrap 127.0.0.1:9092

Failure policy: a record that does not decode is logged with its partition, offset and
reason and skipped (ghl-sync's projections dead-letter it); offsets are committed to Kafka
only after the batch's routings were handed over, so a crash repeats routings (the callback
must be idempotent on `event_id`) and never loses one. A real deployment keeps the router's
memory in its own store; this example rebuilds it by reading from the beginning.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

from examples.segments.rules import Routed, Router, Rules
from schemas import ContactDeleted, ContactUpserted, EventDecodeError, decode_event

__all__ = ["SegmentsConsumer"]

log = logging.getLogger(__name__)


class SegmentsConsumer:
    """Consumes the event topic until cancelled, calling `deliver` for each routing."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        rules: Rules,
        deliver: Callable[[Routed], Awaitable[None]],
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.router = Router(rules)
        self._deliver = deliver
        self.skipped = 0

    async def run(self) -> None:
        """Consume until cancelled."""
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for r in records:
                        await self._handle(r.partition, r.offset, r.value or b"")
                if batches:
                    await self._consumer.commit()
        finally:
            await self._consumer.stop()

    async def _handle(self, partition: int, offset: int, value: bytes) -> None:
        event = decode_event(value)
        if isinstance(event, EventDecodeError):
            self.skipped += 1
            log.warning(
                "skipped record partition=%d offset=%d: %s", partition, offset, event.reason
            )
            return
        routed = None
        if isinstance(event, ContactUpserted):
            routed = self.router.contact(
                event.location_id, event.payload, event.version.isoformat(), event.event_id
            )
        elif isinstance(event, ContactDeleted):
            routed = self.router.deleted(event.location_id, event.contact_id, event.event_id)
        if routed is not None:
            await self._deliver(routed)


def main() -> None:
    """Print routings of the local stack's events with a small demonstration rule set."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="ghl.events.v1")
    parser.add_argument("--group", default="examples-segments")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    rules = Rules(
        by_source={"facebook": "paid-social", "google ads": "paid-search"},
        by_tag={"vip": "vip", "customer": "customers"},
    )

    async def show(routed: Routed) -> None:
        print(f"{routed.kind:<8} {routed.location_id}/{routed.contact_id} "
              f"{sorted(routed.previous)} -> {sorted(routed.segments)}")  # fmt: skip

    consumer = SegmentsConsumer(
        bootstrap_servers=args.bootstrap,
        topic=args.topic,
        group_id=args.group,
        rules=rules,
        deliver=show,
    )
    asyncio.run(consumer.run())


if __name__ == "__main__":
    main()
