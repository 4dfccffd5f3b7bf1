"""The Faust application that hosts ghl-sync's stream processors.

Faust starts the app's tasks (where normalize and the projections run) only after its own
consumer group's first rebalance. Faust's default 60 s session made a restarted worker wait
for its killed predecessor's session to expire before it normalised anything (issue 13: up to
3.5 minutes with normalize's batch holding); the group timing here is the broker's minimum
session, so a restart waits at most ~6 s for that.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faust

from streams.settings import StreamsSettings

__all__ = ["create_app"]


def create_app(settings: StreamsSettings, *, app_id: str | None = None) -> faust.App:
    """A Faust app configured from `settings`; agents are attached by their own modules."""
    name = app_id or settings.app_id
    return faust.App(
        name,
        # Faust's default is `<app id>-data/` in the working directory: litter in a checkout,
        # and unwritable where the image's working directory belongs to root.
        datadir=_data_dir(settings) / name,
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
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        broker_rebalance_timeout=10.0,
    )


def _data_dir(settings: StreamsSettings) -> Path:
    root = settings.data_dir or Path(tempfile.gettempdir()) / f"ghl-sync-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # faust creates one level only
    return root
