"""The platform layer: shared I/O under every process (see STYLE.md, "The layer order").

- `batch_consumer`: the one Kafka consumer loop (assign/seek, fetch, hand to a sink, commit
  after the sink confirms, backpressure, dead letters with one header format).

The names below are loaded on first use: every command imports `services.platform.logs`
before it runs, and `ghl-sync <command> --help` must not pay for aiokafka, asyncpg and the
event schemas the batch consumer brings in (the CLI's start-up budget is one second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.platform.batch_consumer import (
        Backpressure,
        BatchConsumer,
        ConsumerGroupSettings,
        Sink,
        SinkStats,
        dead_letter_headers,
        send_dead_letter,
    )

__all__ = [
    "Backpressure",
    "BatchConsumer",
    "ConsumerGroupSettings",
    "Sink",
    "SinkStats",
    "dead_letter_headers",
    "send_dead_letter",
]

__getattr__, __dir__ = lazy_exports(__name__)
