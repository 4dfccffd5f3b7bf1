"""Where `ghl-sync stack` runs Kafka and PostgreSQL, read from the same `GHL_SYNC_STACK_*`
variables the stack reads: the connections' defaults, so a stack moved to other ports is
still found by every service without a second setting."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LocalStackAddress", "stack_bootstrap", "stack_database_url"]


def stack_bootstrap(host: str, kafka_port: int) -> str:
    """`host:port` of a stack's broker."""
    return f"{host}:{kafka_port}"


def stack_database_url(host: str, port: int, user: str, database: str) -> str:
    """A libpq URL for a stack's database, as its superuser (no password)."""
    return f"postgresql://{user}@{host}:{port}/{database}"


class LocalStackAddress(BaseSettings):
    """The local stack's host, ports, user and database (a subset of `StackSettings`; a test
    keeps their defaults equal)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_STACK_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1")
    kafka_port: int = Field(default=9092)
    postgres_port: int = Field(default=25432)
    postgres_user: str = Field(default="ghl_sync")
    postgres_database: str = Field(default="ghl_sync")

    @property
    def kafka_bootstrap(self) -> str:
        """`host:port` of the stack's broker."""
        return stack_bootstrap(self.host, self.kafka_port)

    @property
    def database_url(self) -> str:
        """A libpq URL for the stack's database."""
        return stack_database_url(
            self.host, self.postgres_port, self.postgres_user, self.postgres_database
        )
