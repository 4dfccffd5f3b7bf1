"""Topic and consumer-group names: the wire contract every process agrees on.

Names carry a version suffix: a change of the records' shape that old consumers cannot read
gets a new topic, never a rewrite of the old one. Pure: the caller passes the prefix and the
app's names (from `streams.settings.StreamsSettings` at run time).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GROUP_HISTORY",
    "GROUP_INSTALLS",
    "GROUP_NORMALIZE",
    "GROUP_PROJECTIONS",
    "TopicNames",
    "consumer_group",
    "topic_names_for",
]

GROUP_NORMALIZE = "normalize"
GROUP_PROJECTIONS = "projections"
GROUP_HISTORY = "history"
GROUP_INSTALLS = "installs"


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


def topic_names_for(prefix: str, app_name: str) -> TopicNames:
    """The topic names under `prefix` (the app's name prefixes its own command topics)."""
    p, app = prefix, app_name
    return TopicNames(
        raw=f"{p}ghl.raw.v1",
        raw_dead_letters=f"{p}ghl.raw.dlq.v1",
        events=f"{p}ghl.events.v1",
        events_dead_letters=f"{p}ghl.events.dlq.v1",
        commands=f"{p}{app}.commands.v1",
        command_results=f"{p}{app}.command-results.v1",
        commands_dead_letters=f"{p}{app}.commands.dlq.v1",
    )


def consumer_group(app_id: str, role: str) -> str:
    """The consumer group of one role (`GROUP_NORMALIZE`, ...) under the app id."""
    return f"{app_id}-{role}"
