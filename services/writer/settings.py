"""Settings of the writer (`ghl-sync writer`), env prefix `GHL_SYNC_WRITER_`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.platform.connections import ServiceSettings
from services.platform.settings_fields import CommandTopicFields, metrics_port_field, seconds_field

__all__ = ["ConflictPolicy", "WriterSettings"]

ConflictPolicy = Literal["reject", "merge", "force"]


class WriterSettings(ServiceSettings, CommandTopicFields):
    """Where commands come from, where state and results go, and how hard to retry."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_WRITER_", frozen=True)

    partitions: list[int] | None = Field(
        default=None,
        description="Command partitions this process applies (JSON list); default: all. Each "
        "partition is held by one writer at a time (a PostgreSQL advisory lock).",
    )
    consumer_name: str = Field(
        default="writer", description="Name under which command offsets are stored."
    )
    conflict_policy: ConflictPolicy = Field(
        default="reject",
        description="When `expected_version` is older than GHL's: reject the command, merge "
        "by field, or force it through; every conflict is recorded.",
    )
    location_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Location id -> static access token (JSON); when empty, OAuth tokens "
        "from the database (or GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN) are used.",
    )
    max_in_flight_per_location: int = Field(
        default=24, ge=1, description="Commands of one location at GHL at once."
    )
    max_pending: int = Field(
        default=20_000, ge=1, description="Commands read but not finished before reading pauses."
    )
    retry_backoff: float = seconds_field(0.5, "First retry pause, seconds.")
    retry_backoff_max: float = seconds_field(30.0, "Longest retry pause.")
    lookup_delay: float = seconds_field(
        0.5,
        "Seconds to wait before looking for a create whose outcome is unknown, so "
        "a request still being processed by GHL can land first.",
        allow_zero=True,
    )
    created_skew_seconds: float = seconds_field(
        120.0,
        "A contact found by duplicate search counts as ours only if GHL added it "
        "no earlier than this many seconds before our first send (clock skew).",
        allow_zero=True,
    )
    offset_flush_seconds: float = seconds_field(0.5)
    publish_timeout_seconds: float = seconds_field(
        30.0,
        "Longest wait for Kafka to confirm a command's result and events; longer "
        "ends the connected period and the writer reconnects (the result is published again).",
    )
    stall_seconds: float = seconds_field(
        20.0,
        "Seconds without a command read, while commands wait on the topic, after "
        "which the writer's consumer counts as stalled and is replaced.",
    )
    metrics_port: int = metrics_port_field(9103)
