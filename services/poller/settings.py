"""Settings of the poller and the backfill (env prefix `GHL_SYNC_POLLER_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.platform.connections import ServiceSettings
from services.platform.settings_fields import TopicFields, metrics_port_field, seconds_field

__all__ = ["PollerSettings"]


class PollerSettings(ServiceSettings, TopicFields):
    """Which locations, how often each job runs, and where events and state go."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_POLLER_", frozen=True)

    locations: tuple[str, ...] = Field(
        default=(),
        description="Locations to poll; empty: every location with a stored token (with a "
        "Private Integration Token: the one location GHL lists for it).",
    )
    cycle_seconds: float = seconds_field(60.0, "Incremental contact polls.")
    overlap_seconds: float = seconds_field(
        120.0, "How far before the cursor each poll looks again.", allow_zero=True
    )
    task_sweep_seconds: float = seconds_field(
        300.0, "Full task sweeps (task edits send no webhook).", allow_zero=True
    )
    children_sweep_seconds: float = seconds_field(
        3600.0, "Notes and appointments of every contact.", allow_zero=True
    )
    reconcile_seconds: float = seconds_field(
        3600.0, "Deletion reconciliation (id-set diff).", allow_zero=True
    )
    reconcile_grace_seconds: float = seconds_field(
        300.0,
        "Rows younger than this are never reconciled away (search-index lag).",
        allow_zero=True,
    )
    page_size: int = Field(default=500, ge=1, le=500, description="Contacts per search page.")
    appointments_past_days: float = Field(
        default=3650.0,
        gt=0,
        description="Appointments starting this far back are read by the location-wide "
        "appointment sweep and the backfill (calendars API, one read per calendar).",
    )
    appointments_future_days: float = Field(
        default=730.0, gt=0, description="... and this far ahead."
    )
    quota_share: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Share of a location's daily GHL quota the poller plans to spend (polls, "
        "sweeps, reconciliation); sweeps of large locations are slowed to stay under it.",
    )
    daily_quota: int = Field(
        default=200_000, ge=1, description="GHL's daily request quota per location."
    )
    sweep_batch: int = Field(
        default=200, ge=1, description="Most contacts one cycle's children sweep reads."
    )
    lease_seconds: float = seconds_field(
        30.0,
        "Lease on a location: written for two thirds of it, renewed every sixth; "
        "a dead instance's locations are taken over within one period.",
    )
    instance_id: str = Field(
        default="", description="This instance's name in leases and status; empty: host:pid."
    )
    flush_seconds: float = seconds_field(
        5.0,
        "How often confirmed cursors, digests and sweep state of all locations are "
        "written (one transaction); a crash repeats at most this much work.",
    )
    max_backfills: int = Field(
        default=16,
        ge=1,
        description="Backfills (onboarding of new locations) one instance runs at once.",
    )
    metrics_port: int = metrics_port_field(9102)

    @property
    def events_topic(self) -> str:
        """`ghl.events.v1` with the prefix."""
        return f"{self.topic_prefix}ghl.events.v1"
