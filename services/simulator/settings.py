"""Settings of the GHL simulator (`ghl-sync simulator`).

One frozen settings class, read from environment variables prefixed `GHL_SYNC_SIMULATOR_`
(nested and list values as JSON, e.g. `GHL_SYNC_SIMULATOR_WEBHOOK_URLS='["http://x/hook"]'`).

UNCONFIRMED choices made here (GHL does not document them):

- The Ed25519 webhook key is derived from `seed` when `webhook_signing_key` is unset, so a
  receiver configured with the public key keeps working across restarts. It is a test key.
- The legacy RSA key is 2048-bit by default (GHL's is 4096-bit) to start fast.
- Duplicate contacts are disallowed by default (`allow_duplicate_contacts=False`), matching on
  email first, then phone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.settings_fields import host_field, port_field, seconds_field

__all__ = [
    "AGENCY_SCOPES",
    "ALL_SCOPES",
    "FaultSettings",
    "PrivateIntegrationToken",
    "SimulatorSettings",
]

ALL_SCOPES: tuple[str, ...] = (
    "contacts.readonly",
    "contacts.write",
    "locations/tasks.readonly",
    "locations/tasks.write",
    "calendars.readonly",
    "calendars/events.readonly",
    "calendars/events.write",
    "locations/customFields.readonly",
    "locations/customFields.write",
    "locations.readonly",
)
"""Every scope the simulator knows; tokens minted without a scope list get all of them."""

AGENCY_SCOPES: tuple[str, ...] = ("oauth.readonly", "oauth.write")
"""Scopes only Company tokens use (installed locations, minting location tokens), added to
`ALL_SCOPES` for a company consent that names no scope."""


class PrivateIntegrationToken(BaseModel):
    """A static Private Integration Token (`pit-...`) bound to one location."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    location_id: str
    scopes: tuple[str, ...] = ALL_SCOPES


class FaultSettings(BaseModel):
    """Fault injection. Rates are probabilities in [0, 1] drawn per request or per webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, description="Added to every API request.")
    latency_jitter_ms: float = Field(default=0.0, ge=0, description="Uniform extra latency.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="5xx before applying.")
    rate_limit_storm_rate: float = Field(
        default=0.0, ge=0, le=1, description="Spurious 429s regardless of the budget."
    )
    timeout_after_apply_rate: float = Field(
        default=0.0, ge=0, le=1, description="Apply the change, then stall and answer 504."
    )
    stall_seconds: float = seconds_field(30.0, "How long a stall lasts.", allow_zero=True)
    create_422_rate: float = Field(
        default=0.0, ge=0, le=1, description="Creates that apply yet answer 422 (GHL #64)."
    )
    webhook_drop_rate: float = Field(default=0.0, ge=0, le=1)
    webhook_duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    webhook_reorder_rate: float = Field(
        default=0.0, ge=0, le=1, description="Deliveries held back so later ones overtake."
    )
    webhook_reorder_delay_seconds: float = seconds_field(1.0, allow_zero=True)


class SimulatorSettings(BaseSettings):
    """Everything the simulator can be told; see the module docstring for the defaults' why."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_SIMULATOR_", frozen=True)

    host: str = host_field("simulator")
    port: int = port_field("simulator", 8700)

    client_id: str = Field(default="ghl-sync-simulator", description="The one OAuth app.")
    client_secret: SecretStr = Field(default=SecretStr("simulator-client-secret"))
    company_id: str = Field(
        default="SimCompany0000000001", description="The agency owning the seeded locations."
    )
    company_name: str = Field(default="Simulated Agency", description="That agency's name.")
    app_id: str | None = Field(
        default=None, description="The app's id; the part of client_id before '-' if unset."
    )
    app_version_id: str = Field(default="SimAppVersion0000001", description="Its versionId.")
    app_webhooks: bool = Field(
        default=True, description="Send INSTALL, UNINSTALL and LocationCreate webhooks."
    )
    user_id: str = Field(default="SimInstallUser000001", description="The installing user.")
    private_integration_tokens: tuple[PrivateIntegrationToken, ...] = ()

    access_token_ttl_seconds: int = Field(default=86399, ge=1)
    refresh_token_ttl_seconds: int = Field(default=365 * 86400, ge=1)
    authorization_code_ttl_seconds: int = Field(default=600, ge=1)
    refresh_reuse_revokes_family: bool = Field(
        default=True,
        description="Reusing a spent refresh token also kills the live one it was rotated into.",
    )

    rate_limit_max: int = Field(default=100, ge=1, description="Requests per burst window.")
    rate_limit_interval_ms: int = Field(default=10_000, ge=1, description="Burst window.")
    rate_limit_daily: int = Field(default=200_000, ge=1, description="Requests per UTC day.")

    allow_duplicate_contacts: bool = False
    duplicate_priority: tuple[Literal["email", "phone"], ...] = ("email", "phone")

    seed: int = Field(default=0, description="Seeds the data, ids, keys and the generator.")
    locations: int = Field(default=3, ge=0)
    contacts_per_location: int = Field(default=25, ge=0)

    webhook_urls: tuple[str, ...] = ()
    webhook_signing_key: SecretStr | None = Field(
        default=None, description="PEM (PKCS#8) Ed25519 private key; derived from seed if unset."
    )
    webhook_rsa_signing_key: SecretStr | None = Field(
        default=None, description="PEM RSA private key for X-WH-Signature; generated if unset."
    )
    webhook_legacy_rsa_signature: bool = Field(
        default=False, description="Also send the legacy RSA X-WH-Signature header."
    )
    webhook_rsa_key_bits: int = Field(default=2048, ge=1024)
    webhook_max_retries: int = Field(default=12, ge=0, description="Retries after the 1st try.")
    webhook_retry_base_seconds: float = seconds_field(10.0, allow_zero=True)
    webhook_retry_max_seconds: float = seconds_field(3600.0, allow_zero=True)
    webhook_timeout_seconds: float = seconds_field(10.0)
    webhook_senders: int = Field(
        default=16, ge=1, le=1024, description="Sender tasks (and pooled connections) delivering."
    )
    webhook_queue_max: int = Field(
        default=1_000_000, ge=1, description="Deliveries that may wait; more are dropped."
    )
    webhook_deliveries_per_second: float = Field(
        default=0.0, ge=0, description="Global delivery rate cap; 0 sends unpaced."
    )
    webhook_log_size: int = Field(
        default=50_000, ge=1, description="Deliveries kept in the admin log."
    )
    task_create_without_contact_rate: float = Field(
        default=0.2, ge=0, le=1, description="TaskCreate webhooks lacking contactId (GHL #332)."
    )

    search_lag_seconds: float = seconds_field(
        0.0, "Search index lag: search sees contacts as they were this long ago.", allow_zero=True
    )

    activity_rate: float = Field(
        default=0.0, ge=0, description="Generator steps per second; 0 disables it."
    )
    faults: FaultSettings = FaultSettings()
