"""Settings for reaching the projections database."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DatabaseSettings"]


class DatabaseSettings(BaseSettings):
    """The database APPNAME reads (env `GHL_SYNC_DATABASE_URL`, `GHL_SYNC_DATABASE_SCHEMA`)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_DATABASE_", frozen=True)

    url: SecretStr = Field(
        default=SecretStr("postgresql://ghl_sync@127.0.0.1:25432/ghl_sync"),
        description="libpq URL; secret because it may hold a password.",
    )
    schema_name: str = Field(
        default="public",
        alias="GHL_SYNC_DATABASE_SCHEMA",
        description="Schema holding ghl-sync's tables.",
    )
