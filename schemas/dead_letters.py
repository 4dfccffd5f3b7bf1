"""The one dead-letter header set, shared by every dead-letter topic.

A dead-lettered record keeps its value, key and own headers; these headers are appended (see
README, "Dead letters"). `services.platform.batch_consumer.dead_letter_headers` builds them.
"""

from __future__ import annotations

__all__ = [
    "DEAD_LETTER_CODE",
    "DEAD_LETTER_HEADERS",
    "DEAD_LETTER_REASON",
    "DEAD_LETTER_SOURCE_OFFSET",
    "DEAD_LETTER_SOURCE_PARTITION",
    "DEAD_LETTER_SOURCE_TOPIC",
]

DEAD_LETTER_REASON = "x-dead-letter-reason"
DEAD_LETTER_SOURCE_TOPIC = "x-source-topic"
DEAD_LETTER_SOURCE_PARTITION = "x-source-partition"
DEAD_LETTER_SOURCE_OFFSET = "x-source-offset"

DEAD_LETTER_CODE = "x-dead-letter-code"
"""A topic's own classification of the reason, after the set (the writer's: `invalid`,
`duplicate_id`, or the failed command's error code such as `validation`, `not_found`)."""

DEAD_LETTER_HEADERS = (
    DEAD_LETTER_REASON,
    DEAD_LETTER_SOURCE_TOPIC,
    DEAD_LETTER_SOURCE_PARTITION,
    DEAD_LETTER_SOURCE_OFFSET,
)
"""The appended names, in the order they are written."""
