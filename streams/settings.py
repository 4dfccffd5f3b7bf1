"""Settings of the stream processors (`ghl-sync worker`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.platform.connections import ServiceSettings
from services.platform.settings_fields import seconds_field

if TYPE_CHECKING:
    from services.platform.batch_consumer import ConsumerGroupSettings

__all__ = ["StreamsSettings"]


class StreamsSettings(ServiceSettings):
    """Broker, application id, and topic names of the Faust app.

    Read from environment variables prefixed `GHL_SYNC_STREAMS_`. The APPNAME side's names
    are settings, so nothing assumes which application is connected.
    """

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_STREAMS_", frozen=True)

    app_id: str = Field(default="ghl-sync", description="Faust app id (consumer group prefix).")
    app_name: str = Field(default="appname", description="Topic prefix of the connected app.")
    topic_prefix: str = Field(
        default="", description="Prepended to every topic name (isolates tests or tenants)."
    )
    topic_partitions: int = Field(default=6, ge=1, description="Partitions of every topic.")
    store: str = Field(default="memory://", description="Faust table store.")
    web_port: int = Field(default=6066, description="Port of the worker's web endpoint.")
    web_enabled: bool = Field(default=False)
    data_dir: Path | None = Field(
        default=None,
        description="Folder for the worker's local state (Faust keeps `<app id>/` in it). "
        "Unset: `ghl-sync-<uid>` in the system's temporary folder, enough for the default "
        "`memory://` store; give a `rocksdb://` store a lasting folder (the image uses "
        "/var/lib/ghl-sync).",
    )

    processors: list[Literal["projections", "normalize", "history"]] = Field(
        default=["projections", "normalize", "history"],
        description='Processors this worker runs, as a JSON list (e.g. ["projections"]).',
    )
    metrics_port: int = Field(
        default=9101, ge=0, description="Port of the worker's Prometheus /metrics (0: off)."
    )
    projection_consumer: str = Field(
        default="projections", description="Name under which projection offsets are stored."
    )
    history_consumer: str = Field(
        default="history", description="Name under which history offsets are stored."
    )
    history_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Days of contact history kept (unset: kept for ever); older entries are "
        "pruned hourly, keeping each entity's last state before the cut.",
    )
    batch_size: int = Field(default=2000, ge=1, description="Most events in one transaction.")
    batch_wait: float = seconds_field(
        0.2, "Seconds to wait for a batch to fill before applying it."
    )
    retry_backoff_max: float = seconds_field(
        30.0, "Longest pause between retries of a failing batch."
    )
    normalize_location_concurrency: int = Field(
        default=8, ge=1, description="Fetches in flight per location in normalize."
    )
    normalize_max_pending: int = Field(
        default=50_000,
        ge=1,
        description="Raw records normalize holds in memory before it pauses consuming.",
    )
    normalize_park_probe_seconds: float = seconds_field(
        5.0, "How often a parked location (no usable token) is retried."
    )
    burst_threshold: int = Field(
        default=20,
        ge=1,
        description="Queued contact/task/note changes of one location that switch it to burst "
        "mode (list calls instead of one fetch each); measured in bench/burst.py.",
    )
    burst_max: int = Field(default=10_000, ge=1, description="Most changes one burst resolves.")
    burst_settle_seconds: float = seconds_field(
        2.0,
        "A change joins a burst only this long after its webhook, so GHL's "
        "search index has caught up with it.",
        allow_zero=True,
    )
    burst_window_margin_seconds: float = seconds_field(
        5.0, "Slack around the dateUpdated window a burst searches.", allow_zero=True
    )
    burst_stale_tolerance_seconds: float = seconds_field(
        0.25,
        "A search hit answers a change if its dateUpdated is at most this much "
        "older than the webhook's timestamp; older hits are fetched one by one.",
        allow_zero=True,
    )

    def event_log_group(self, group_id: str, topic: str) -> ConsumerGroupSettings:
        """The batch consumer of the event log `topic` for a sink that stores its offsets with
        its rows (the projections, the history): this deployment's brokers and batches."""
        # Imported here: the settings are read by commands that never consume (status, tail),
        # and the batch consumer brings the Kafka client with it.
        from services.platform.batch_consumer import ConsumerGroupSettings

        return ConsumerGroupSettings(
            bootstrap_servers=self.kafka,
            group_id=group_id,
            topics=(topic,),
            offsets="sink",
            batch_size=self.batch_size,
            batch_wait=self.batch_wait,
        )
