"""Settings for reaching the projections database."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.stack_address import stack_default

__all__ = ["DatabaseSettings"]


class DatabaseSettings(BaseSettings):
    """The database APPNAME reads (env `GHL_SYNC_DATABASE_URL`, `GHL_SYNC_DATABASE_SCHEMA`)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_DATABASE_", frozen=True)

    url: SecretStr = Field(
        default=SecretStr("postgresql://ghl_sync@127.0.0.1:25432/ghl_sync"),
        description="libpq URL of every service's database (a service's own `*_DATABASE_URL` "
        "overrides it); secret because it may hold a password. Unset: the local stack's "
        "(`GHL_SYNC_STACK_HOST`, `GHL_SYNC_STACK_POSTGRES_PORT`).",
    )
    schema_name: str = Field(
        default="public",
        alias="GHL_SYNC_DATABASE_SCHEMA",
        description="Schema holding ghl-sync's tables.",
    )

    @model_validator(mode="before")
    @classmethod
    def _stack_by_default(cls, data: Any) -> Any:
        return stack_default(data, "url", lambda stack: stack.database_url)
