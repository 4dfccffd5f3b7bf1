"""Creating ghl-sync's topics explicitly, with their partitions and retention."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = ["FOREVER", "ensure_topics", "partitions_of"]

FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
"""Topic settings of a log that is never compacted or expired."""


async def ensure_topics(
    bootstrap: str, names: list[str], *, partitions: int, config: dict[str, str] | None = None
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    Existing topics are left alone: their partition count is part of their keys' placement
    and is never changed behind a running deployment's back.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            # Another process may create them first: that is the outcome wanted.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            num_partitions=partitions,
                            replication_factor=1,
                            topic_configs=dict(config or FOREVER),
                        )
                        for n in missing
                    ]
                )
        return missing
    finally:
        await admin.close()


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of `topic` ([] when it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        p["partition"] for d in described if d["error_code"] == 0 for p in d["partitions"]
    )
