"""Settings of agency installs (env prefix `GHL_SYNC_INSTALLS_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.settings_fields import metrics_port_field, seconds_field

__all__ = ["InstallSettings"]


class InstallSettings(BaseSettings):
    """How installs are discovered, reconciled and undone."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_INSTALLS_", frozen=True)

    app_id: str = Field(
        default="",
        description="Marketplace app id for `installedLocations`; empty: the client id's part "
        "before its first '-' (GHL client ids are `<appId>-<suffix>`; UNCONFIRMED).",
    )
    reconcile_seconds: float = seconds_field(
        900.0,
        "How often every company's installedLocations is read again (webhooks "
        "can be missed): installs and uninstalls that sent no webhook are applied.",
    )
    page_size: int = Field(
        default=20, ge=1, le=100, description="Locations per installedLocations page."
    )
    onboard_concurrency: int = Field(
        default=16, ge=1, description="Location tokens minted side by side during onboarding."
    )
    on_uninstall: Literal["keep", "tombstone"] = Field(
        default="keep",
        description="What an UNINSTALL does to the location's synced data: `keep` leaves its "
        "rows and events as they are (frozen at the uninstall); `tombstone` also emits a "
        "deletion event (source `reconcile`) for every live contact, task, note and "
        "appointment of the location, so the projections mark them deleted.",
    )
    metrics_port: int = metrics_port_field(9104)
    consumer_group: str = Field(
        default="",
        description="Kafka group reading app webhooks from ghl.raw.v1; empty: "
        "`{GHL_SYNC_STREAMS_APP_ID}-installs`.",
    )

    def app_id_for(self, client_id: str) -> str:
        """The app id to send: the setting, else derived from the client id."""
        return self.app_id or client_id.split("-", 1)[0]
