"""Settings of the poller and the backfill (env prefix `GHL_SYNC_POLLER_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PollerSettings"]


class PollerSettings(BaseSettings):
    """Which locations, how often each job runs, and where events and state go."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_POLLER_", frozen=True)

    locations: tuple[str, ...] = Field(
        default=(), description="Locations to poll; empty: every location with a stored token."
    )
    cycle_seconds: float = Field(default=60.0, gt=0, description="Incremental contact polls.")
    overlap_seconds: float = Field(
        default=120.0, ge=0, description="How far before the cursor each poll looks again."
    )
    task_sweep_seconds: float = Field(
        default=300.0, ge=0, description="Full task sweeps (task edits send no webhook)."
    )
    children_sweep_seconds: float = Field(
        default=3600.0, ge=0, description="Notes and appointments of every contact."
    )
    reconcile_seconds: float = Field(
        default=3600.0, ge=0, description="Deletion reconciliation (id-set diff)."
    )
    reconcile_grace_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Rows younger than this are never reconciled away (search-index lag).",
    )
    page_size: int = Field(default=100, ge=1, le=500, description="Contacts per search page.")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    topic_prefix: str = Field(default="", description="Same as GHL_SYNC_STREAMS_TOPIC_PREFIX.")
    topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of a topic this service has to create (same as "
        "GHL_SYNC_STREAMS_TOPIC_PARTITIONS); an existing topic is left as it is.",
    )
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://ghl_sync@127.0.0.1:55432/ghl_sync"),
        description="Cursors, digests, backfill progress; the projections it reconciles against.",
    )
    database_schema: str = Field(default="public")

    @property
    def events_topic(self) -> str:
        """`ghl.events.v1` with the prefix."""
        return f"{self.topic_prefix}ghl.events.v1"
