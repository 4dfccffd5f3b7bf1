"""Settings of the GHL client (env prefix `GHL_SYNC_GHL_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.settings_fields import seconds_field

__all__ = ["GhlSettings"]

_DEFAULT_SCOPES = (
    "contacts.readonly contacts.write locations/tasks.readonly "
    "calendars.readonly calendars/events.readonly calendars/events.write "
    "locations/customFields.readonly locations.readonly"
)


class GhlSettings(BaseSettings):
    """How to reach GHL, authenticate, and spend each location's request budget."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_GHL_", frozen=True)

    base_url: str = Field(
        default="https://services.leadconnectorhq.com",
        description="API host; point it at the simulator to run without GHL.",
    )
    authorize_url: str = Field(
        default="https://marketplace.gohighlevel.com/v2/oauth/chooselocation",
        description="Consent page the user opens to install the app on a location.",
    )
    client_id: str = Field(default="", description="Marketplace app client id.")
    client_secret: SecretStr = Field(default=SecretStr(""), description="App client secret.")
    redirect_uri: str = Field(
        default="http://127.0.0.1:8765/oauth/callback",
        description="Where GHL sends the browser back with `?code=`; `ghl-sync auth` listens here.",
    )
    scopes: str = Field(default=_DEFAULT_SCOPES, description="Space-separated OAuth scopes.")
    user_type: str = Field(default="Location", description="`Location` or `Company` tokens.")
    private_integration_token: SecretStr | None = Field(
        default=None, description="Static Private Integration Token; replaces OAuth when set."
    )
    token_encryption_key: SecretStr = Field(
        default=SecretStr(""),
        description="URL-safe base64 of 32 random bytes: AES-256-GCM key for tokens at rest.",
    )

    connect_timeout: float = seconds_field(5.0, "Seconds to connect.")
    read_timeout: float = seconds_field(30.0, "Seconds to wait for an answer.")
    write_timeout: float = seconds_field(30.0, "Seconds to send a request.")
    pool_timeout: float = seconds_field(30.0, "Seconds to wait for a socket.")
    max_connections: int = Field(default=200, ge=1, description="Sockets shared by all calls.")

    max_retries: int = Field(
        default=3, ge=0, description="Retries of an idempotent call after a 5xx or timeout."
    )
    retry_backoff: float = seconds_field(0.5, "First backoff, seconds.")
    retry_backoff_max: float = seconds_field(8.0, "Longest backoff, seconds.")
    max_rate_limit_retries: int = Field(
        default=5, ge=0, description="429 answers waited out before `RateLimited` is raised."
    )
    default_retry_after: float = seconds_field(
        2.0, "Wait after a 429 that carries no `Retry-After`."
    )

    rate_limit_requests: int = Field(default=100, ge=2, description="Requests per burst window.")
    rate_limit_interval: float = seconds_field(10.0, "Burst window, seconds.")
    rate_limit_daily: int = Field(default=200_000, ge=1, description="Requests per location/day.")
    rate_limit_margin: float = Field(
        default=0.01,
        ge=0,
        lt=0.5,
        description="Fraction of the window added as slack for clock and network jitter.",
    )
    rate_limit_background_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Fraction of the request rate polling and backfill may use, so writes and "
        "webhook enrichment always find a free slot next.",
    )
    rate_limit_max_wait: float = seconds_field(
        120.0, "Longest wait for a slot before `RateLimited` is raised."
    )

    refresh_margin: float = seconds_field(
        300.0, "Refresh an access token this many seconds before expiry.", allow_zero=True
    )

    @property
    def scope_list(self) -> tuple[str, ...]:
        """The scopes as a tuple."""
        return tuple(self.scopes.split())
