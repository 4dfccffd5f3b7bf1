"""The install handler: app webhooks from `ghl.raw.v1` into `Agency.handle`.

The receiver lands every verified delivery on `ghl.raw.v1`; normalize skips the app events
(their `type` is not an entity webhook), and this consumer, in a Kafka group of its own, reads
only them: INSTALL, UNINSTALL, LocationCreate. Offsets are committed after a batch was handled;
a crash re-reads the batch, which is harmless (the state machine takes a fact it already has as
a duplicate). Records that are not raw deliveries or not JSON are logged and skipped: they are
normalize's to dead-letter, and nothing here depends on them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.raw import RawDelivery, RawRecordError
from services.installs.agency import APP_EVENT_TYPES, Agency
from services.platform.connections import KafkaSettings, kafka_options

__all__ = ["InstallHandler", "InstallHandlerStats"]

_log = logging.getLogger("services.installs")


@dataclass
class InstallHandlerStats:
    """Running totals."""

    records: int = 0
    app_events: int = 0
    unreadable: int = 0


class InstallHandler:
    """Consumes `topic` under `group_id` until cancelled."""

    def __init__(
        self,
        agency: Agency,
        *,
        bootstrap: KafkaSettings | str,
        topic: str,
        group_id: str,
        batch_size: int = 500,
    ) -> None:
        self._agency = agency
        self._bootstrap = bootstrap
        self._topic = topic
        self._group_id = group_id
        self._batch_size = batch_size
        self.stats = InstallHandlerStats()

    def __repr__(self) -> str:
        return f"InstallHandler(topic={self._topic!r}, group_id={self._group_id!r})"

    async def run(self) -> None:
        """Consume until cancelled."""
        consumer = AIOKafkaConsumer(
            self._topic,
            **kafka_options(self._bootstrap),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=500, max_records=self._batch_size)
                records = [r for batch in fetched.values() for r in batch]
                if not records:
                    continue
                await self.process(records)
                await consumer.commit(
                    {
                        TopicPartition(tp.topic, tp.partition): batch[-1].offset + 1
                        for tp, batch in fetched.items()
                        if batch
                    }
                )
        finally:
            await consumer.stop()

    async def process(self, records: Sequence[Any]) -> int:
        """Handle the app events among `records` in their order; returns how many."""
        handled = 0
        self.stats.records += len(records)
        for r in records:
            body = self._app_event(r)
            if body is None:
                continue
            await self._agency.handle(body)
            handled += 1
        self.stats.app_events += handled
        return handled

    def _app_event(self, record: Any) -> dict[str, Any] | None:
        try:
            delivery = RawDelivery.from_record(record.value, record.key, record.headers)
            body = json.loads(delivery.body)
        except (RawRecordError, ValueError) as exc:
            self.stats.unreadable += 1
            _log.debug("install handler skipped an unreadable record: %s", exc)
            return None
        if not isinstance(body, dict) or body.get("type") not in APP_EVENT_TYPES:
            return None
        return body
