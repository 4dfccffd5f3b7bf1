"""The Faust application that hosts ghl-sync's stream processors.

Faust starts the app's tasks (where normalize and the projections run) only after its own
consumer group's first rebalance. Faust's default 60 s session made a restarted worker wait
for its killed predecessor's session to expire before it normalised anything (issue 13: up to
3.5 minutes with normalize's batch holding); the group timing here is the broker's minimum
session, so a restart waits at most ~6 s for that.

Faust's own aiokafka consumer and producer are paced by the outage policy like every other
Kafka client (`services.platform.outage.kafka_client_options`: a retry at most every second,
not every 100 ms, while the broker is away); faust has no setting for it, so the app gets a
transport whose clients take those options.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_kafka

from services.platform.outage import kafka_client_options
from streams.settings import StreamsSettings

__all__ = ["create_app"]


def create_app(settings: StreamsSettings, *, app_id: str | None = None) -> faust.App:
    """A Faust app configured from `settings`; agents are attached by their own modules."""
    name = app_id or settings.app_id
    app = faust.App(
        name,
        # Faust's default is `<app id>-data/` in the working directory: litter in a checkout,
        # and unwritable where the image's working directory belongs to root.
        datadir=_data_dir(settings) / name,
        # Servers, SASL and TLS from the shared connection settings (`GHL_SYNC_KAFKA_*`).
        **settings.kafka.faust_kwargs(),
        store=settings.store,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.kafka.topic_replication_factor,
        # Offsets live with the data in PostgreSQL (see DESIGN.md); faust's exactly-once mode
        # has open bugs, so the app relies on idempotent writes instead.
        processing_guarantee="at_least_once",
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        autodiscover=False,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        broker_rebalance_timeout=10.0,
    )
    app.transport = _PacedTransport(app.conf.broker_consumer, app)
    app.producer_transport = _PacedTransport(app.conf.broker_producer, app)
    return app


def _data_dir(settings: StreamsSettings) -> Path:
    root = settings.data_dir or Path(tempfile.gettempdir()) / f"ghl-sync-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # faust creates one level only
    return root


def _pace(consumer: Any) -> Any:
    """`consumer` (an unstarted aiokafka consumer) with the policy's retry backoff.

    Faust builds its consumer with fixed arguments; aiokafka keeps the backoff in two places:
    the client's (connects, metadata) and the one it hands the fetcher and the coordinator
    when it starts. A unit test checks both, so an aiokafka upgrade cannot drop this silently.
    """
    seconds = kafka_client_options()["retry_backoff_ms"] / 1000
    consumer._client._retry_backoff = seconds
    consumer._retry_backoff_ms = int(seconds * 1000)
    return consumer


class _PacedConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_consumer(self, loop: Any) -> Any:
        return _pace(super()._create_consumer(loop))


class _PacedConsumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _PacedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _PacedProducer(faust_kafka.Producer):
    def _settings_default(self) -> Any:
        # Also what the threaded producer is built from.
        return {**super()._settings_default(), **kafka_client_options()}


class _PacedTransport(faust_kafka.Transport):
    Consumer = _PacedConsumer
    Producer = _PacedProducer
