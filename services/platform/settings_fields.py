"""Settings fields several services declare alike, declared once.

- `TopicFields`: the topic prefix and the partitions of the topics a service creates (the
  poller, the receiver); the worker's own `GHL_SYNC_STREAMS_TOPIC_*` are what these mirror.
- `CommandTopicFields`: the same plus the connected app's name, for the services that use the
  app's command topics (the API, the writer); `topics` names every topic for them.
- `metrics_port_field(default)`: the port of a service's `/metrics`, `/livez` and `/readyz`.
- `host_field(command)`, `port_field(command, default)`: where the HTTP server of
  `ghl-sync <command>` listens (the API, the receiver, the simulator).
- `seconds_field(default, description)`: a duration in seconds (an interval, a timeout, a
  margin), more than 0; with `allow_zero=True`, 0 or more.

Mixed into a service's settings class beside `ServiceSettings`, they take that class's env
prefix (`GHL_SYNC_POLLER_TOPIC_PREFIX`, `GHL_SYNC_WRITER_APP_NAME`, ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings

from schemas.topics import TopicNames, topic_names_for

__all__ = [
    "CommandTopicFields",
    "TopicFields",
    "host_field",
    "metrics_port_field",
    "port_field",
    "seconds_field",
]


class TopicFields(BaseSettings):
    """`topic_prefix` and `topic_partitions` of a service that creates the topics it uses."""

    topic_prefix: str = Field(default="", description="Same as GHL_SYNC_STREAMS_TOPIC_PREFIX.")
    topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of a topic this service has to create (same as "
        "GHL_SYNC_STREAMS_TOPIC_PARTITIONS); an existing topic is left as it is.",
    )


class CommandTopicFields(TopicFields):
    """`TopicFields` and `app_name`, which prefixes the app's command topics."""

    app_name: str = Field(default="appname", description="Same as GHL_SYNC_STREAMS_APP_NAME.")
    # Documented in these services' words since before the fields were shared.
    topic_partitions: int = Field(default=6, ge=1, description="Partitions of topics it creates.")

    @property
    def topics(self) -> TopicNames:
        """Every topic name for this prefix and app (the worker's names for the same)."""
        return topic_names_for(self.topic_prefix, self.app_name)


def metrics_port_field(default: int) -> Any:
    """The `metrics_port` field of a service serving `/metrics`, `/livez` and `/readyz`."""
    return Field(
        default=default, ge=0, description="Port of /metrics, /livez and /readyz (0: off)."
    )


def host_field(command: str) -> Any:
    """The `host` field of the HTTP server `ghl-sync <command>` runs."""
    return Field(default="127.0.0.1", description=f"Address `ghl-sync {command}` binds.")


def port_field(command: str, default: int) -> Any:
    """The `port` field of the HTTP server `ghl-sync <command>` runs."""
    return Field(default=default, description=f"Port `ghl-sync {command}` binds.")


def seconds_field(
    default: float, description: str | None = None, *, allow_zero: bool = False
) -> Any:
    """A duration in seconds (a `float` field): more than 0, or with `allow_zero` 0 or more
    (where 0 means no wait, no margin or no pause between runs, as the description says)."""
    ge, gt = (0, None) if allow_zero else (None, 0)
    if description is None:  # left unset, as by a `Field` given none
        return Field(default=default, ge=ge, gt=gt)
    return Field(default=default, ge=ge, gt=gt, description=description)
