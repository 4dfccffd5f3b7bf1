"""The install handler: app webhooks from `ghl.raw.v1` into `Agency.handle`.

The receiver lands every verified delivery on `ghl.raw.v1`; normalize skips the app events
(their `type` is not an entity webhook), and this consumer, in a Kafka group of its own, reads
only them: INSTALL, UNINSTALL, LocationCreate. The platform's `BatchConsumer` runs the group,
with this handler as its sink, and commits offsets after a batch was handled; a crash re-reads
the batch, which is harmless (the state machine takes a fact it already has as a duplicate).
Records that are not raw deliveries or not JSON are logged and skipped: they are
normalize's to dead-letter, and nothing here depends on them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from schemas.raw import RawDelivery, RawRecordError
from services.installs.agency import APP_EVENT_TYPES, Agency
from services.platform.batch_consumer import BatchConsumer, ConsumerGroupSettings
from services.platform.connections import KafkaSettings

__all__ = ["InstallHandler", "InstallHandlerStats"]

_log = logging.getLogger("services.installs")


@dataclass
class InstallHandlerStats:
    """Running totals."""

    records: int = 0
    app_events: int = 0
    unreadable: int = 0


class InstallHandler:
    """Consumes `topic` under `group_id` until cancelled: a sink of the platform's batch
    consumer, which commits what `write` handled."""

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
        self._consumer = BatchConsumer(
            ConsumerGroupSettings(
                bootstrap_servers=bootstrap,
                group_id=group_id,
                topics=(topic,),
                batch_size=batch_size,
            ),
            self,
        )
        self._handled: dict[TopicPartition, int] = {}
        self.stats = InstallHandlerStats()

    def __repr__(self) -> str:
        group = self._consumer.settings
        return f"InstallHandler(topic={group.topics[0]!r}, group_id={group.group_id!r})"

    async def run(self) -> None:
        """Consume until cancelled."""
        await self._consumer.run()

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        return {}  # the group's committed offsets are where reading resumes

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        for tp in partitions:
            self._handled.pop(tp, None)

    async def write(self, records: Sequence[Any]) -> None:
        await self.process(records)
        for r in records:
            self._handled[TopicPartition(r.topic, r.partition)] = r.offset + 1

    def confirmed(self) -> Mapping[TopicPartition, int]:
        return self._handled

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
