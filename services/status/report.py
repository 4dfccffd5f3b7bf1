"""What `ghl-sync status` reports: plain frozen values, the same for the tables and `--json`.

Nothing here holds a token: `TokenState` carries the expiry and refresh history only.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = [
    "BackfillState",
    "BudgetState",
    "CompanyState",
    "DeadLetters",
    "InstallState",
    "LocationStatus",
    "ParkedLocation",
    "PartitionLag",
    "PlanState",
    "PollerState",
    "StatusReport",
    "TableCount",
    "TokenState",
    "WebhookReceipts",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PollerState(_Frozen):
    """The poller's cursor and job times for one location (`poller_locations`)."""

    contacts_cursor: datetime | None
    tasks_swept_at: datetime | None
    children_swept_at: datetime | None
    reconciled_at: datetime | None
    last_poll_at: datetime
    """When the poller last saved this location's state: the end of its last cycle."""


class PlanState(_Frozen):
    """The location's quota plan, who polls it, and what it spent today (UTC)."""

    holder: str | None
    """The poller instance holding the location's lease; None when no live lease."""
    lease_expires_at: datetime | None
    requests_today: dict[str, int]
    """GHL requests today by request class, every process's (`ghl_request_counts`)."""
    projected_daily: float | None
    daily_quota: int
    staleness_bound_seconds: float | None
    """The plan's children sweep period: every contact is swept again within it."""
    oldest_swept_at: datetime | None
    """When the stalest contact's children were last read (the net's staleness now)."""
    contacts_known: int | None


class BackfillState(_Frozen):
    """Resumable backfill progress (`backfill_progress`)."""

    phase: str
    contacts_done: int
    tasks_done: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class TokenState(_Frozen):
    """When the location's access token expires; never the token."""

    user_type: str
    expires_at: datetime
    expires_in_seconds: float
    refresh_count: int
    refreshed_at: datetime | None


class BudgetState(_Frozen):
    """The location's request budget from the shared ledger (`ghl_rate_limits`)."""

    window_requests: int
    """Requests allowed per window (lowered when GHL says so)."""
    window_seconds: float
    window_left: int
    """Requests the current window still allows: ours (booked slots ahead of now included)
    and others' use subtracted."""
    daily_limit: int
    daily_left: int
    next_slot_in_seconds: float
    """How far ahead the ledger has booked: > 0 means callers are queueing."""


class LocationStatus(_Frozen):
    """Everything known about one location's sync."""

    location_id: str
    poller: PollerState | None
    backfill: BackfillState | None
    token: TokenState | None
    budget: BudgetState | None
    last_webhook_at: datetime | None
    """Receive time of the newest delivery for the location among the scanned raw records."""
    contacts_live: int
    contacts_deleted: int
    plan: PlanState | None = None


class PartitionLag(_Frozen):
    """One partition of a consumed topic: the log's end, the consumer's position, the gap."""

    consumer: str
    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None
    """Next offset the consumer will read; None when it never committed one."""
    lag: int


class DeadLetters(_Frozen):
    """Records in one dead-letter topic (end minus beginning offsets over its partitions)."""

    topic: str
    count: int
    exists: bool


class TableCount(_Frozen):
    """Rows of one projection table."""

    table: str
    live: int
    deleted: int


class WebhookReceipts(_Frozen):
    """The receiver's replay-protection table: deliveries persisted and still in flight."""

    persisted: int
    claimed: int
    last_persisted_at: datetime | None


class ParkedLocation(_Frozen):
    """A location whose normalize work waits for a usable token (summed over workers)."""

    location_id: str
    records: int
    reason: str
    parked_since: datetime
    updated_at: datetime


class CompanyState(_Frozen):
    """An agency holding a Company token (agency installs); never the token."""

    company_id: str
    install_to_future_locations: bool
    token_expires_in_seconds: float
    refresh_count: int
    installed: int
    pending: int
    uninstalled: int


class InstallState(_Frozen):
    """One installation of the app on a location (`ghl_installations`)."""

    company_id: str | None
    location_id: str
    name: str | None
    state: str
    """`installed`, `pending` (company not authorised yet), `uninstalled`, or `orphan` (an
    INSTALL whose company is not known yet)."""
    since: datetime
    source: str
    onboarded_at: datetime | None
    has_token: bool
    company_authorised: bool


class StatusReport(_Frozen):
    """One snapshot of the deployment, taken at `collected_at` (the database's clock)."""

    collected_at: datetime
    topic_prefix: str
    locations: tuple[LocationStatus, ...]
    lag: tuple[PartitionLag, ...]
    dead_letters: tuple[DeadLetters, ...]
    tables: tuple[TableCount, ...]
    webhooks: WebhookReceipts
    webhook_scan_per_partition: int
    commands: dict[str, int] | None
    """Writer commands by state; None where the writer's table does not exist."""
    parked: tuple[ParkedLocation, ...] = ()
    """Locations normalize parked (no usable token): their records wait, none dropped."""
    companies: tuple[CompanyState, ...] = ()
    """Agencies that authorised the app with a Company token."""
    installs: tuple[InstallState, ...] = ()
    """Every installation (agency and sub-account installs), by company."""

    @property
    def total_lag(self) -> int:
        """Lag summed over every consumer and partition."""
        return sum(p.lag for p in self.lag)
