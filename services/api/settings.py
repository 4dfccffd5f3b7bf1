"""Settings of the APPNAME-facing HTTP API (`ghl-sync api`), env prefix `GHL_SYNC_API_`."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.platform.connections import ServiceSettings
from services.platform.settings_fields import (
    CommandTopicFields,
    host_field,
    port_field,
    seconds_field,
)

__all__ = ["ApiSettings"]


class ApiSettings(ServiceSettings, CommandTopicFields):
    """Where the API listens, its key, and where commands and projections live."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_API_", frozen=True)

    host: str = host_field("api")
    port: int = port_field("api", 8720)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Keys APPNAME sends as `X-API-Key` (JSON list); none set: every call is 401.",
    )
    produce_timeout_seconds: float = seconds_field(
        10.0, "Longest wait for Kafka's ack before answering 503."
    )
    database_pool_size: int = Field(default=10, ge=1)
    max_page_size: int = Field(default=500, ge=1, description="Largest `limit` of a list.")
    max_batch: int = Field(default=500, ge=1, description="Most commands in one batch request.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1, description="Larger commands: 413.")
    max_json_depth: int = Field(
        default=32,
        ge=2,
        description="Deepest nesting of arrays and objects in a body; deeper: 400.",
    )
    pending_retry_seconds: float = seconds_field(
        5.0, "How often commands Kafka did not confirm (`pending`) are produced again."
    )
    pending_expiry_seconds: float = seconds_field(
        900.0, "A command still `pending` after this long becomes `failed` (`not_on_topic`)."
    )
