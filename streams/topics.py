"""Every topic ghl-sync uses, declared in one place.

Names carry a version suffix: a change of the records' shape that old consumers cannot read
gets a new topic, never a rewrite of the old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.settings import StreamsSettings

__all__ = ["TopicNames", "topic_names"]


@dataclass(frozen=True)
class TopicNames:
    """The names of ghl-sync's topics."""

    raw: str
    raw_dead_letters: str
    events: str
    events_dead_letters: str
    commands: str
    command_results: str
    commands_dead_letters: str

    def all(self) -> list[str]:
        """Every name, in declaration order."""
        return list(self.__dict__.values())


def topic_names(settings: StreamsSettings) -> TopicNames:
    """The topic names for these settings (the app's name prefixes its own topics)."""
    p, app = settings.topic_prefix, settings.app_name
    return TopicNames(
        raw=f"{p}ghl.raw.v1",
        raw_dead_letters=f"{p}ghl.raw.dlq.v1",
        events=f"{p}ghl.events.v1",
        events_dead_letters=f"{p}ghl.events.dlq.v1",
        commands=f"{p}{app}.commands.v1",
        command_results=f"{p}{app}.command-results.v1",
        commands_dead_letters=f"{p}{app}.commands.dlq.v1",
    )
