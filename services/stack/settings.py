"""Settings of the local stack (`ghl-sync stack ...`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.stack_address import StackEndpoints

__all__ = ["StackSettings"]


class StackSettings(StackEndpoints, BaseSettings):
    """Where the local Kafka and PostgreSQL live, and on which ports.

    Read from environment variables prefixed `GHL_SYNC_STACK_` (for example
    `GHL_SYNC_STACK_KAFKA_PORT=19092`).
    """

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_STACK_", frozen=True)

    state_dir: Path = Field(
        default=Path(".stack"),
        description="Folder for jars, data, logs and pid files (git-ignored).",
    )
    host: str = Field(default="127.0.0.1", description="Address both servers listen on.")

    kafka_version: str = Field(default="4.4.0", description="Apache Kafka version to run.")
    kafka_port: int = Field(default=9092, description="Kafka client port.")
    kafka_controller_port: int = Field(default=9093, description="KRaft controller port.")
    kafka_heap: str = Field(default="-Xms256m -Xmx512m", description="Broker JVM heap options.")
    kafka_cluster_id: str = Field(
        default="R2hsU3luY0xvY2FsU3RhY2s",
        description="KRaft cluster id; fixed so storage is formatted without an extra JVM start.",
    )
    kafka_start_timeout: float = Field(default=120.0, description="Seconds to wait for Kafka.")
    java: str = Field(default="java", description="Java 17+ executable.")
    maven: str = Field(default="mvn", description="Maven executable, used to fetch the jars.")

    postgres_port: int = Field(default=25432, description="PostgreSQL port.")
    postgres_bin_dir: Path | None = Field(
        default=None,
        description="Folder holding initdb and pg_ctl; found under /usr/lib/postgresql when unset.",
    )
    postgres_database: str = Field(default="ghl_sync", description="Database created by `up`.")
    postgres_user: str = Field(default="ghl_sync", description="Superuser of the stack's cluster.")
    postgres_os_user: str = Field(
        default="postgres",
        description="System account that runs the server when the stack is started as root.",
    )
    postgres_start_timeout: float = Field(
        default=60.0, description="Seconds to wait for PostgreSQL."
    )

    @property
    def root(self) -> Path:
        """The state folder as an absolute path."""
        return self.state_dir.resolve()
