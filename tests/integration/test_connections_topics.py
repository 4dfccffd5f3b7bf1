"""Topic durability on the local broker: an existing topic with fewer copies than the
replication factor asks is kept (its partitions are never changed behind a deployment's back)
and named in a warning; a missing one is refused before anything is created."""

from __future__ import annotations

import logging
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.platform.connections import KafkaSettings
from streams.admin import ensure_topics
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration


async def test_an_existing_topic_with_fewer_copies_is_kept_and_named(
    kafka_bootstrap: str, new_topic: TopicFactory, caplog: pytest.LogCaptureFixture
) -> None:
    existing = await new_topic("durability")
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_replication_factor=2)
    with caplog.at_level(logging.WARNING, logger="streams.admin"):
        assert await ensure_topics(kafka, [existing], partitions=1) == []
    [warning] = [r.getMessage() for r in caplog.records if r.name == "streams.admin"]
    assert existing in warning
    assert "GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR=2" in warning


async def test_a_missing_topic_is_refused_and_none_is_created(
    kafka_bootstrap: str, new_topic: TopicFactory, kafka_admin: AIOKafkaAdminClient
) -> None:
    existing = await new_topic("durability")
    missing = f"durability.{uuid.uuid4().hex[:12]}"
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_replication_factor=2)
    with pytest.raises(ValueError, match="GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR=2"):
        await ensure_topics(kafka, [existing, missing], partitions=1)
    assert missing not in await kafka_admin.list_topics()
