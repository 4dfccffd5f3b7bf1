"""Where `ghl-sync stack` runs Kafka and PostgreSQL, read from the same `GHL_SYNC_STACK_*`
variables the stack reads: the connections' defaults, so a stack moved to other ports is
still found by every service without a second setting.

- `StackEndpoints`: `kafka_bootstrap` and `database_url` of a class holding the stack's host,
  ports, user and database (`LocalStackAddress` here, the stack's own `StackSettings`).
- `stack_default(data, field, value)`: a settings class's input with `field` taken from the
  local stack when it was not given (a `model_validator(mode="before")` step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LocalStackAddress", "StackEndpoints", "stack_default"]


class StackEndpoints:
    """The addresses clients use, from the stack's `host`, ports, user and database."""

    if TYPE_CHECKING:  # fields of the settings class this is mixed into
        host: str
        kafka_port: int
        postgres_port: int
        postgres_user: str
        postgres_database: str

    @property
    def kafka_bootstrap(self) -> str:
        """`host:port` of the stack's broker."""
        return f"{self.host}:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        """A libpq URL for the stack's database, as its superuser (no password)."""
        return (
            f"postgresql://{self.postgres_user}@{self.host}:{self.postgres_port}/"
            f"{self.postgres_database}"
        )


class LocalStackAddress(StackEndpoints, BaseSettings):
    """The local stack's host, ports, user and database (a subset of `StackSettings`; a test
    keeps their defaults equal)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_STACK_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1")
    kafka_port: int = Field(default=9092)
    postgres_port: int = Field(default=25432)
    postgres_user: str = Field(default="ghl_sync")
    postgres_database: str = Field(default="ghl_sync")


def stack_default(data: Any, field: str, value: Callable[[LocalStackAddress], str]) -> Any:
    """`data` with `field` set to `value` of the local stack when `data` does not give it:
    unset, a connection follows the stack, so moving its port moves every service."""
    if isinstance(data, dict) and field not in data:
        return {**data, field: value(LocalStackAddress())}
    return data
