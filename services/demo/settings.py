"""Settings of `ghl-sync demo`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.settings_fields import seconds_field

__all__ = ["DemoSettings"]


class DemoSettings(BaseSettings):
    """How big the demo is and where its services listen (env prefix `GHL_SYNC_DEMO_`)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_DEMO_", frozen=True)

    locations: int = Field(default=5, ge=1, description="Simulated GHL locations.")
    contacts: int = Field(
        default=300,
        ge=1,
        description="Contacts per location (with tasks, notes, tags and appointments). The "
        "backfill and every full poll read each contact's notes and appointments, 2 requests "
        "per contact at 10 requests/s per location: 300 contacts take about a minute.",
    )
    seed: int = Field(default=7, description="Seed of the simulated data.")
    activity_seconds: float = seconds_field(60.0, "Live activity duration.")
    activity_steps_per_second: float = Field(
        default=4.0, gt=0, description="Simulated GHL changes per second (all locations)."
    )
    probe_interval: float = seconds_field(1.0, "Seconds between freshness probes (a contact edit).")
    drop_webhooks: float = Field(default=0.10, ge=0, le=1, description="Webhooks lost.")
    duplicate_webhooks: float = Field(default=0.05, ge=0, le=1, description="Sent twice.")
    reorder_webhooks: float = Field(default=0.05, ge=0, le=1, description="Delivered late.")
    converge_timeout: float = seconds_field(
        420.0, "Seconds to wait for convergence after the activity."
    )
    poll_seconds: float = seconds_field(
        15.0, "Poller cycle during the demo (shorter than default)."
    )
    simulator_port: int = Field(default=8700)
    webhooks_port: int = Field(default=8710)
    worker_metrics_port: int = Field(default=9101)
    poller_metrics_port: int = Field(default=9102)
    log_dir: str = Field(default=".stack/demo", description="Logs of the demo's services.")
