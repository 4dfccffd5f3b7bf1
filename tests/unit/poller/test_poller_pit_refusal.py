"""A Private Integration Token names no location: the poller refuses to start without
`GHL_SYNC_POLLER_LOCATIONS` instead of polling nothing."""

from __future__ import annotations

from pydantic import SecretStr

from services.ghl import GhlSettings
from services.poller.cli import pit_without_locations
from services.poller.settings import PollerSettings


def test_a_pit_without_locations_is_refused_naming_both_variables() -> None:
    refusal = pit_without_locations(
        PollerSettings.model_construct(locations=()),
        GhlSettings.model_construct(private_integration_token=SecretStr("pit-secret-value")),
    )
    assert refusal is not None
    assert "GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN" in refusal
    assert "GHL_SYNC_POLLER_LOCATIONS" in refusal
    assert "pit-secret-value" not in refusal
    assert "\n" not in refusal


def test_a_pit_with_locations_or_oauth_without_them_can_poll() -> None:
    pit = GhlSettings.model_construct(private_integration_token=SecretStr("pit-x"))
    oauth = GhlSettings.model_construct(private_integration_token=None)
    assert pit_without_locations(PollerSettings.model_construct(locations=("loc1",)), pit) is None
    assert pit_without_locations(PollerSettings.model_construct(locations=()), oauth) is None
