"""Settings of the stream processors (`ghl-sync worker`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["StreamsSettings"]


class StreamsSettings(BaseSettings):
    """Broker, application id, and topic names of the Faust app.

    Read from environment variables prefixed `GHL_SYNC_STREAMS_`. The APPNAME side's names
    are settings, so nothing assumes which application is connected.
    """

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_STREAMS_", frozen=True)

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    app_id: str = Field(default="ghl-sync", description="Faust app id (consumer group prefix).")
    app_name: str = Field(default="appname", description="Topic prefix of the connected app.")
    topic_prefix: str = Field(
        default="", description="Prepended to every topic name (isolates tests or tenants)."
    )
    topic_partitions: int = Field(default=6, ge=1, description="Partitions of every topic.")
    store: str = Field(default="memory://", description="Faust table store.")
    web_port: int = Field(default=6066, description="Port of the worker's web endpoint.")
    web_enabled: bool = Field(default=False)

    processors: list[Literal["projections", "normalize"]] = Field(
        default=["projections", "normalize"],
        description='Processors this worker runs, as a JSON list (e.g. ["projections"]).',
    )
    metrics_port: int = Field(
        default=9101, ge=0, description="Port of the worker's Prometheus /metrics (0: off)."
    )
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://ghl_sync@127.0.0.1:55432/ghl_sync"),
        description="Where the projections live (secret: it may hold a password).",
    )
    database_schema: str = Field(default="public", description="Schema of the projections.")
    projection_consumer: str = Field(
        default="projections", description="Name under which projection offsets are stored."
    )
    batch_size: int = Field(default=2000, ge=1, description="Most events in one transaction.")
    batch_wait: float = Field(
        default=0.2, gt=0, description="Seconds to wait for a batch to fill before applying it."
    )
    retry_backoff_max: float = Field(
        default=30.0, gt=0, description="Longest pause between retries of a failing batch."
    )
