"""Every topic ghl-sync uses, for these settings (the names themselves: `schemas.topics`)."""

from __future__ import annotations

from schemas.topics import TopicNames, topic_names_for
from streams.settings import StreamsSettings

__all__ = ["TopicNames", "topic_names"]


def topic_names(settings: StreamsSettings) -> TopicNames:
    """The topic names for these settings (the app's name prefixes its own topics)."""
    return topic_names_for(settings.topic_prefix, settings.app_name)
