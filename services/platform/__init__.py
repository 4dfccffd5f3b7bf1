"""The platform layer: shared I/O under every process (see STYLE.md, "The layer order").

- `batch_consumer`: the one Kafka consumer loop (assign/seek, fetch, hand to a sink, commit
  after the sink confirms, backpressure, dead letters with one header format).
"""

from services.platform.batch_consumer import (
    Backpressure,
    BatchConsumer,
    ConsumerGroupSettings,
    Sink,
    dead_letter_headers,
    send_dead_letter,
)

__all__ = [
    "Backpressure",
    "BatchConsumer",
    "ConsumerGroupSettings",
    "Sink",
    "dead_letter_headers",
    "send_dead_letter",
]
