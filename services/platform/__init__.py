"""The platform layer: shared I/O under every process (see STYLE.md, "The layer order").

- `batch_consumer`: the one Kafka consumer loop (assign/seek, fetch, hand to a sink, commit
  after the sink confirms, backpressure, dead letters with one header format).

The names below are loaded on first use: every command imports `services.platform.logs`
before it runs, and `ghl-sync <command> --help` must not pay for aiokafka, asyncpg and the
event schemas the batch consumer brings in (the CLI's start-up budget is one second).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_HOME = dict.fromkeys(__all__, "services.platform.batch_consumer")
"""Public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
