"""The Faust application that hosts ghl-sync's stream processors."""

from __future__ import annotations

import faust

from streams.settings import StreamsSettings

__all__ = ["create_app"]


def create_app(settings: StreamsSettings, *, app_id: str | None = None) -> faust.App:
    """A Faust app configured from `settings`; agents are attached by their own modules."""
    return faust.App(
        app_id or settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store=settings.store,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        # Offsets live with the data in PostgreSQL (see DESIGN.md); faust's exactly-once mode
        # has open bugs, so the app relies on idempotent writes instead.
        processing_guarantee="at_least_once",
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        autodiscover=False,
    )
