"""Settings of the stream processors (`ghl-sync worker`)."""

from __future__ import annotations

from pydantic import Field
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
    topic_partitions: int = Field(default=6, ge=1, description="Partitions of every topic.")
    store: str = Field(default="memory://", description="Faust table store.")
    web_port: int = Field(default=6066, description="Port of the worker's web endpoint.")
    web_enabled: bool = Field(default=False)
